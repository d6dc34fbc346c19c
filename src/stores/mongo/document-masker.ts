import { BSON, Decimal128, Double, Int32, Long, type Document } from 'bson';
import { FerryError } from '../../errors/index.js';
import { KEEP, type Masker, type Transformer } from '../../mask/transformers.js';
import type { FieldRule } from '../../mask/rules.js';
import type { MaskedObjectStats } from '../store.js';
import { EXACT_TYPES } from './bson-file.js';

type Container = Record<string, unknown>;

/** A sub-document, as opposed to a BSON value (ObjectId, Int32, Decimal128…), an array or a date. */
function isSubDocument(value: unknown): value is Container {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !('_bsontype' in value) && !(value instanceof Date) && !(value instanceof RegExp) && !(value instanceof Uint8Array);
}

/** True when some document node holds the path (through arrays): the rule can match. */
export function hasPath(node: unknown, path: readonly string[]): boolean {
  if (Array.isArray(node)) return node.some((element) => hasPath(element, path));
  if (!isSubDocument(node)) return false;
  const [head, ...rest] = path as [string, ...string[]];
  if (!(head in node)) return false;
  return rest.length === 0 || hasPath(node[head], rest);
}

/** Where a value stands, for messages: the rule's path and the document's number. */
interface Place {
  path: readonly string[];
}

/**
 * Masks the fields of one collection's documents as they stream into the insert batches. `null`
 * and `fixed` replace any value; other transformers mask strings, each element of an array, and
 * numbers digit by digit keeping their BSON type. A value of any other kind under such a rule (a
 * sub-document, a date, an ObjectId…) is refused with MASK_VALUE_UNSUPPORTED: never kept as it
 * was. Documents of a collection with rules are re-encoded, so their field order is kept but not
 * their exact bytes.
 */
export class DocumentMasker {
  readonly stats: MaskedObjectStats;
  /** Rules whose field no document has had so far: a misspelt path. */
  readonly unmatched: Set<FieldRule>;

  constructor(collection: string, private readonly rules: FieldRule[], private readonly masker: Masker) {
    this.stats = { object: collection, rows: 0, masked: 0 };
    this.unmatched = new Set(rules);
  }

  /** The same rules with counts of their own (for a second pass over the same documents). */
  copy(): DocumentMasker {
    return new DocumentMasker(this.stats.object, this.rules, this.masker);
  }

  apply(bytes: Buffer): Buffer {
    const doc: Document = BSON.deserialize(bytes, EXACT_TYPES);
    const masked = this.visit(doc, false);
    if (masked === 0) return bytes;
    this.stats.masked += masked;
    return Buffer.from(BSON.serialize(doc));
  }

  /** Checks a document as apply would mask it, changing nothing: refuses values no rule can mask. */
  check(doc: Document): void {
    this.visit(doc, true);
  }

  private visit(doc: Document, dryRun: boolean): number {
    this.stats.rows++;
    for (const rule of this.unmatched) if (hasPath(doc, rule.path)) this.unmatched.delete(rule);
    let masked = 0;
    for (const rule of this.rules) masked += this.maskAt(doc, rule.path, rule.transformer, { path: rule.path }, dryRun);
    return masked;
  }

  private maskAt(node: unknown, path: readonly string[], transformer: Transformer, place: Place, dryRun: boolean): number {
    if (Array.isArray(node)) return node.reduce((n: number, element) => n + this.maskAt(element, path, transformer, place, dryRun), 0);
    if (!isSubDocument(node)) return 0;
    const [head, ...rest] = path as [string, ...string[]];
    if (!(head in node)) return 0;
    if (rest.length > 0) return this.maskAt(node[head], rest, transformer, place, dryRun);
    return this.replace(node, head, node[head], transformer, place, dryRun);
  }

  /** Replaces container[key] when the transformer changes it; how many values it replaced. */
  private replace(container: Container, key: string, value: unknown, transformer: Transformer, place: Place, dryRun: boolean): number {
    if (value === null || value === undefined || transformer.kind === 'keep') return 0;
    if (transformer.kind === 'fixed') {
      if (!dryRun) container[key] = transformer.value;
      return 1;
    }
    if (transformer.kind === 'null') {
      if (!dryRun) container[key] = null;
      return 1;
    }
    if (Array.isArray(value)) {
      let n = 0;
      for (let i = 0; i < value.length; i++) n += this.replace(value as unknown as Container, String(i), value[i], transformer, place, dryRun);
      return n;
    }
    if (typeof value === 'string') {
      if (dryRun) return 1;
      const next = this.masker.mask(transformer, value);
      if (next === KEEP) return 0;
      container[key] = next;
      return 1;
    }
    const number = numberKind(value);
    if (number !== undefined) {
      if (!dryRun) container[key] = this.maskNumber(value, number);
      return 1;
    }
    throw new FerryError('MASK_VALUE_UNSUPPORTED', `mask rule ${this.stats.object}.${place.path.join('.')}: document ${this.stats.rows} holds ${describeKind(value)} there, which ${transformer.kind} cannot mask`, {
      hint: 'Use null or {fixed: …} for this field (they replace any value), or point the rule at the strings inside it. Nothing was restored or written.',
    });
  }

  /** The same number with each digit replaced (deterministically, from the key), in the same BSON type. */
  private maskNumber(value: unknown, kind: NumberKind): unknown {
    const digits = (text: string) => {
      const [mantissa = '', exponent] = text.split(/(?=[eE])/);
      return `${String(this.masker.mask({ kind: 'phone' }, mantissa))}${exponent ?? ''}`;
    };
    const v = value as { value?: unknown; toString(): string };
    switch (kind) {
      case 'Int32': {
        const n = Number(digits(String(v.value)));
        return new Int32(Math.abs(n) > 2_147_483_647 ? n % 2_147_483_648 : n);
      }
      case 'Long':
        return Long.fromBigInt(BigInt.asIntN(64, BigInt(digits(v.toString()))));
      case 'Double':
        return new Double(Number(digits(String(v.value))));
      case 'Decimal128':
        return Decimal128.fromString(digits(v.toString()));
    }
  }
}

type NumberKind = 'Int32' | 'Long' | 'Double' | 'Decimal128';

function numberKind(value: unknown): NumberKind | undefined {
  const tag = (value as { _bsontype?: unknown } | undefined)?._bsontype;
  return tag === 'Int32' || tag === 'Long' || tag === 'Double' || tag === 'Decimal128' ? tag : undefined;
}

function describeKind(value: unknown): string {
  if (isSubDocument(value)) return 'a sub-document';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'boolean') return 'a boolean';
  const tag = (value as { _bsontype?: unknown } | undefined)?._bsontype;
  return typeof tag === 'string' ? `a BSON ${tag}` : `a ${typeof value}`;
}
