import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { CITIES, FIRST_NAMES, LAST_NAMES, LOREM, STREETS, STREET_TYPES } from './words.js';

export const TRANSFORMER_NAMES = ['email', 'name', 'first_name', 'last_name', 'phone', 'address', 'text', 'hash', 'null', 'keep'] as const;
export type TransformerName = (typeof TRANSFORMER_NAMES)[number];

export type Transformer =
  | { kind: TransformerName }
  | { kind: 'fixed'; value: string | number | boolean | null }
  | { kind: 'template'; template: string };

const PLACEHOLDER = /\{(hash|first_name|last_name|digits)(?::(\d+))?\}/g;

/** A transformer from its config form, or the reason it is not one. */
export function parseTransformer(spec: unknown): Transformer | string {
  if (typeof spec === 'object' && spec !== null && !Array.isArray(spec) && Object.keys(spec).length === 1 && 'fixed' in spec) {
    const value = (spec as { fixed: unknown }).fixed;
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return { kind: 'fixed', value: value as string | number | boolean | null };
    return 'fixed: expects a string, number, boolean or null';
  }
  if (typeof spec !== 'string') return `expected one of ${TRANSFORMER_NAMES.join(', ')}, {fixed: <value>} or a template like "user-{hash:8}@example.invalid"`;
  if ((TRANSFORMER_NAMES as readonly string[]).includes(spec)) return { kind: spec as TransformerName };
  if (spec.includes('{')) {
    const unknown = spec.replace(PLACEHOLDER, '').match(/\{[^}]*\}/);
    if (unknown !== null) return `template placeholder ${unknown[0]} is not one of {hash[:N]}, {first_name}, {last_name}, {digits:N}`;
    return { kind: 'template', template: spec };
  }
  return `unknown transformer "${spec}": expected one of ${TRANSFORMER_NAMES.join(', ')}, {fixed: <value>} or a template with {hash:N}`;
}

/** The result of masking one value: the new text, or null for SQL NULL / BSON null. */
export type Masked = string | null;

/**
 * Deterministic masking: every output is derived from HMAC-SHA256(key, input), so the same input
 * gives the same output in every table, collection and run with the same key, and nothing about the
 * input can be recovered without the key. Outputs that embed 64 bits of the HMAC (email, hash) stay
 * unique for unique inputs, short of a 2^-64 collision.
 */
export class Masker {
  /** A key object made once: createHmac with a string key converts it on every call (a quarter of the time). */
  private readonly key: KeyObject;

  constructor(key: string) {
    this.key = createSecretKey(Buffer.from(key, 'utf8'));
  }

  private digest(value: string, round = 0): Buffer {
    return createHmac('sha256', this.key).update(round === 0 ? value : `${value}\u0000${round}`).digest();
  }

  /** `first` is digest(value) when the caller has it already. */
  private hex(value: string, length: number, first?: Buffer): string {
    let out = '';
    for (let round = 0; out.length < length; round++) out += (round === 0 && first !== undefined ? first : this.digest(value, round)).toString('hex');
    return out.slice(0, length);
  }

  mask(transformer: Transformer, value: string): Masked | typeof KEEP {
    switch (transformer.kind) {
      case 'keep':
        return KEEP;
      case 'null':
        return null;
      case 'fixed':
        return transformer.value === null ? null : String(transformer.value);
      case 'hash':
        return this.hex(value, 64);
      case 'email': {
        const normal = value.trim().toLowerCase();
        const d = this.digest(normal);
        return `${pick(FIRST_NAMES, d, 0).toLowerCase()}.${pick(LAST_NAMES, d, 2).toLowerCase()}.${this.hex(normal, 16, d)}@example.invalid`;
      }
      case 'name': {
        const d = this.digest(value);
        return `${pick(FIRST_NAMES, d, 0)} ${pick(LAST_NAMES, d, 2)}`;
      }
      case 'first_name':
        return pick(FIRST_NAMES, this.digest(value), 0);
      case 'last_name':
        return pick(LAST_NAMES, this.digest(value), 2);
      case 'phone': {
        const d = this.digest(value);
        let i = 0;
        return value.replace(/\d/g, () => String((d[i++ % d.length] ?? 0) % 10));
      }
      case 'address': {
        const d = this.digest(value);
        return `${1 + (d.readUInt16BE(4) % 199)} ${pick(STREET_TYPES, d, 6)} ${pick(STREETS, d, 8)}, ${String(10000 + (d.readUInt32BE(10) % 89999))} ${pick(CITIES, d, 14)}`;
      }
      case 'text':
        return this.text(value);
      case 'template':
      {
        const d = this.digest(value);
        return transformer.template.replace(PLACEHOLDER, (_m, name: string, size: string | undefined) => {
          if (name === 'hash') return this.hex(value, size === undefined ? 16 : Number(size), d);
          if (name === 'first_name') return pick(FIRST_NAMES, d, 0);
          if (name === 'last_name') return pick(LAST_NAMES, d, 2);
          return [...d].map((byte) => String(byte % 10)).join('').slice(0, Number(size ?? 6));
        });
      }
    }
  }

  /**
   * Lorem ipsum of the input's length: words drawn by a generator seeded from the HMAC, joined by
   * spaces, cut at the input's length (one shorter when the last word ends exactly there). Written
   * as bytes: a recipe's instructions are hundreds of words, and a million of them are masked.
   */
  private text(value: string): string {
    if (value.length === 0) return value;
    const d = this.digest(value);
    let state = d.readUInt32BE(0) || 1;
    const out = Buffer.allocUnsafe(value.length + LONGEST_LOREM + 1);
    let written = 0;
    for (let length = 0; length < value.length;) {
      // xorshift32: cheap, and deterministic given the seed.
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const word = LOREM_BYTES[(state >>> 0) % LOREM_BYTES.length] as Uint8Array;
      if (written > 0) out[written++] = 0x20;
      // Words are a few bytes: a loop beats a native copy call.
      for (let i = 0; i < word.length; i++) out[written++] = word[i] as number;
      length += word.length + 1;
    }
    const size = Math.min(written, value.length);
    // The words are lower-case ASCII: the first letter becomes a capital.
    out[0] = (out[0] as number) - 0x20;
    return out.toString('latin1', 0, size);
  }
}

const LOREM_BYTES = LOREM.map((word) => new Uint8Array(Buffer.from(word, 'latin1')));
const LONGEST_LOREM = Math.max(...LOREM.map((word) => word.length));

/** The value is left as it is (the `keep` transformer). */
export const KEEP = Symbol('keep');

function pick<T>(list: readonly T[], digest: Buffer, offset: number): T {
  return list[digest.readUInt16BE(offset) % list.length] as T;
}
