import { Transform, type TransformCallback } from 'node:stream';
import { FerryError } from '../../errors/index.js';
import { KEEP, type Masker, type Transformer } from '../../mask/transformers.js';
import { tableKey } from '../../mask/rules.js';
import type { MaskedObjectStats } from '../store.js';
import { copyTarget } from './copy-counter.js';

const NEWLINE = 0x0a;
const ESCAPES: Record<string, number> = { b: 8, f: 12, n: 10, r: 13, t: 9, v: 11 };


/** A COPY text-format field as its text: backslash escapes (\n, \t, \\, octal, \x) decoded. */
export function decodeCopyField(raw: string): string {
  if (!raw.includes('\\')) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c !== '\\' || i + 1 >= raw.length) {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const next = raw[++i] as string;
    const octal = /^[0-7]{1,3}/.exec(raw.slice(i, i + 3));
    const hex = next === 'x' ? /^[0-9a-fA-F]{1,2}/.exec(raw.slice(i + 1, i + 3)) : null;
    if (octal !== null) {
      bytes.push(parseInt(octal[0], 8) & 0xff);
      i += octal[0].length - 1;
    } else if (hex !== null) {
      bytes.push(parseInt(hex[0], 16));
      i += hex[0].length;
    } else {
      bytes.push(...(ESCAPES[next] === undefined ? Buffer.from(next, 'utf8') : [ESCAPES[next] as number]));
    }
  }
  return Buffer.from(bytes).toString('utf8');
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

  constructor(private readonly rules: Map<string, Map<string, Transformer>>, private readonly masker: Masker) {
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
        const masked = this.masker.mask(transformer, decodeCopyField(raw));
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
    if (columnRules === undefined) return;
    const columns = copyColumns(header, table);
    for (const column of columnRules.keys()) {
      if (!columns.includes(column)) throw new FerryError('MASK_RULE_UNKNOWN', `mask rule ${key}.${column}: the dump's data for ${key} has no column ${column}`, { hint: `Its columns are ${columns.join(', ')}.` });
    }
    const stats = { object: key, rows: 0, masked: 0 };
    this.stats.set(key, stats);
    this.block = { stats, rules: columns.map((c) => columnRules.get(c)) };
  }
}
