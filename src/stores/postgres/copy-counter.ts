import { Transform, type TransformCallback } from 'node:stream';

const NEWLINE = 0x0a;
const LINE_PREFIX_LIMIT = 64 * 1024;
const COPY_PREFIX = Buffer.from('COPY ');

/**
 * Passes plain SQL from pg_restore through unchanged and counts the rows of every
 * `COPY <table> (...) FROM stdin;` block on the way. In COPY text format a row is one line
 * (newlines inside values are escaped), and `\.` ends the block.
 */
export class CopyRowCounter extends Transform {
  readonly counts: Record<string, number> = {};
  private table: string | undefined;
  private rows = 0;
  /** The beginning of a line that a chunk boundary cut, and the full length of that line so far. */
  private carry: Buffer | undefined;
  private carryLength = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let start = 0;
    let nl = chunk.indexOf(NEWLINE);
    if (this.carry !== undefined && nl !== -1) {
      const line = Buffer.concat([this.carry, chunk.subarray(0, Math.min(nl, LINE_PREFIX_LIMIT))]);
      const length = this.carryLength + nl;
      this.carry = undefined;
      this.line(line, 0, Math.min(line.length, length), length);
      start = nl + 1;
      nl = chunk.indexOf(NEWLINE, start);
    }
    // Lines are looked at where they lie in the chunk: millions of rows, no copies.
    for (; nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      this.line(chunk, start, nl, nl - start);
      start = nl + 1;
    }
    if (start < chunk.length) this.keep(chunk.subarray(start));
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.carry !== undefined) this.line(this.carry, 0, this.carry.length, this.carryLength);
    this.endBlock();
    callback();
  }

  private keep(part: Buffer): void {
    // Only a line's beginning matters (the COPY header or the `\.` terminator).
    if (this.carry === undefined) {
      this.carry = Buffer.from(part.subarray(0, LINE_PREFIX_LIMIT));
      this.carryLength = part.length;
      return;
    }
    const room = LINE_PREFIX_LIMIT - this.carry.length;
    if (room > 0) this.carry = Buffer.concat([this.carry, part.subarray(0, room)]);
    this.carryLength += part.length;
  }

  /** Bytes [start, end) of `buffer` hold the line's beginning; `length` is the whole line's. */
  private line(buffer: Buffer, start: number, end: number, length: number): void {
    if (this.table !== undefined) {
      if (length === 2 && buffer[start] === 0x5c && buffer[start + 1] === 0x2e) this.endBlock();
      else this.rows++;
      return;
    }
    if (length > COPY_PREFIX.length && buffer.compare(COPY_PREFIX, 0, COPY_PREFIX.length, start, start + COPY_PREFIX.length) === 0) {
      const table = copyTarget(buffer.toString('utf8', start, end));
      if (table !== undefined) {
        this.table = table;
        this.rows = 0;
        this.counts[table] = this.counts[table] ?? 0;
      }
    }
  }

  private endBlock(): void {
    if (this.table !== undefined) this.counts[this.table] = (this.counts[this.table] ?? 0) + this.rows;
    this.table = undefined;
    this.rows = 0;
  }
}

/** The table named by a `COPY name [(cols)] FROM stdin;` line, exactly as written (quotes kept). */
export function copyTarget(line: string): string | undefined {
  if (!/ FROM stdin;$/.test(line)) return undefined;
  let i = 'COPY '.length;
  let name = '';
  for (;;) {
    if (line[i] === '"') {
      let j = i + 1;
      for (; j < line.length; j++) {
        if (line[j] === '"') {
          if (line[j + 1] === '"') j++;
          else break;
        }
      }
      name += line.slice(i, j + 1);
      i = j + 1;
    } else {
      const m = /^[^\s."(]+/.exec(line.slice(i));
      if (m === null) return undefined;
      name += m[0];
      i += m[0].length;
    }
    if (line[i] === '.') {
      name += '.';
      i++;
      continue;
    }
    return line[i] === ' ' ? name : undefined;
  }
}
