import { Transform, type TransformCallback } from 'node:stream';
import { FerryError } from '../../errors/index.js';
import { KEEP, type Masker, type Transformer } from '../../mask/transformers.js';
import { tableKey } from '../../mask/rules.js';
import type { MaskedObjectStats } from '../store.js';
import { copyTarget } from './copy-counter.js';

const NEWLINE = 0x0a;
const ESCAPES: Record<string, number> = { b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };


const ESCAPE = /\\(?:([0-7]{1,3})|x([0-9a-fA-F]{1,2})|([\s\S]))/g;

/** A COPY text-format field as its text: backslash escapes (\n, \t, \\, octal, \x) decoded. */
export function decodeCopyField(raw: string): string {
  if (!raw.includes('\\')) return raw;
  let highByte = false;
  const text = raw.replace(ESCAPE, (_m, octal: string | undefined, hex: string | undefined, other: string | undefined) => {
    const code = octal !== undefined ? parseInt(octal, 8) & 0xff : hex !== undefined ? parseInt(hex, 16) : undefined;
    if (code === undefined) return ESCAPES[other as string] === undefined ? (other as string) : String.fromCharCode(ESCAPES[other as string] as number);
    if (code >= 0x80) highByte = true;
    return String.fromCharCode(code);
  });
  return highByte ? decodeBytes(raw) : text;
}

/** The rare field with escaped bytes of a multi-byte character: decoded as bytes, then as UTF-8. */
function decodeBytes(raw: string): string {
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of raw.matchAll(ESCAPE)) {
    parts.push(Buffer.from(raw.slice(last, m.index), 'utf8'));
    const [, octal, hex, other] = m;
    if (octal !== undefined) parts.push(Buffer.of(parseInt(octal, 8) & 0xff));
    else if (hex !== undefined) parts.push(Buffer.of(parseInt(hex, 16)));
    else parts.push(ESCAPES[other as string] === undefined ? Buffer.from(other as string, 'utf8') : Buffer.of(ESCAPES[other as string] as number));
    last = m.index + m[0].length;
  }
  parts.push(Buffer.from(raw.slice(last), 'utf8'));
  return Buffer.concat(parts).toString('utf8');
}

export function encodeCopyField(text: string): string {
  return text.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

/** The column names of `COPY name (a, "B c") FROM stdin;`, unquoted. */
export function copyColumns(line: string, table: string): string[] {
  const rest = line.slice('COPY '.length + table.length).trim();
  if (!rest.startsWith('(')) return [];
  const inner = rest.slice(1, rest.lastIndexOf(') FROM stdin;'));
  const columns: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i] as string;
    if (c === '"') {
      if (quoted && inner[i + 1] === '"') {
        current += '"';
        i++;
      } else quoted = !quoted;
    } else if (c === ',' && !quoted) {
      columns.push(current.trim());
      current = '';
    } else current += c;
  }
  columns.push(current.trim());
  return columns;
}

/**
 * Masks the plain SQL that `pg_restore -f -` writes, on its way to psql: rows of the COPY blocks of
 * tables with rules are rewritten column by column; every other line passes through untouched.
 */
export class CopyMasker extends Transform {
  readonly stats = new Map<string, MaskedObjectStats>();
  private pending: Buffer[] = [];
  private block: { stats: MaskedObjectStats; rules: Array<Transformer | undefined> } | undefined;

  constructor(private readonly rules: Map<string, Map<string, Transformer>>, private readonly masker: Masker | undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const out: Buffer[] = [];
      let start = 0;
      for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
        const piece = chunk.subarray(start, nl);
        const line = this.pending.length === 0 ? piece : Buffer.concat([...this.pending, piece]);
        this.pending = [];
        out.push(this.line(line), Buffer.of(NEWLINE));
        start = nl + 1;
      }
      if (start < chunk.length) this.pending.push(Buffer.from(chunk.subarray(start)));
      callback(null, Buffer.concat(out));
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.pending.length === 0 ? undefined : this.line(Buffer.concat(this.pending)));
  }

  private line(line: Buffer): Buffer {
    const block = this.block;
    if (block !== undefined) {
      if (line.length === 2 && line[0] === 0x5c && line[1] === 0x2e) {
        this.block = undefined;
        return line;
      }
      block.stats.rows++;
      const fields = line.toString('utf8').split('\t');
      for (const [index, transformer] of block.rules.entries()) {
        const raw = fields[index];
        if (transformer === undefined || raw === undefined || raw === '\\N') continue;
        const masked = (this.masker as Masker).mask(transformer, decodeCopyField(raw));
        if (masked === KEEP) continue;
        fields[index] = masked === null ? '\\N' : encodeCopyField(masked);
        block.stats.masked++;
      }
      return Buffer.from(fields.join('\t'), 'utf8');
    }
    if (line.length > 5 && line[0] === 0x43 && line.subarray(0, 5).toString() === 'COPY ') this.startBlock(line.toString('utf8'));
    return line;
  }

  private startBlock(header: string): void {
    const table = copyTarget(header);
    if (table === undefined) return;
    const key = tableKey(table);
    const columnRules = this.rules.get(key);
    if (columnRules === undefined || this.masker === undefined) return;
    const columns = copyColumns(header, table);
    for (const column of columnRules.keys()) {
      if (!columns.includes(column)) throw new FerryError('MASK_RULE_UNKNOWN', `mask rule ${key}.${column}: the dump's data for ${key} has no column ${column}`, { hint: `Its columns are ${columns.join(', ')}.` });
    }
    const stats = { object: key, rows: 0, masked: 0 };
    this.stats.set(key, stats);
    this.block = { stats, rules: columns.map((c) => columnRules.get(c)) };
  }
}
