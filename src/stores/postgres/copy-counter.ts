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
  private line: Buffer[] = [];
  private lineLength = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE, start); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      this.keep(chunk.subarray(start, nl));
      this.endLine();
      start = nl + 1;
    }
    this.keep(chunk.subarray(start));
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.lineLength > 0) this.endLine();
    callback();
  }

  private keep(part: Buffer): void {
    if (part.length === 0) return;
    // Only a line's beginning matters (the COPY header or the `\.` terminator).
    if (this.lineLength < LINE_PREFIX_LIMIT) this.line.push(Buffer.from(part.subarray(0, LINE_PREFIX_LIMIT - this.lineLength)));
    this.lineLength += part.length;
  }

  private endLine(): void {
    const length = this.lineLength;
    const line = this.line.length === 1 ? this.line[0]! : Buffer.concat(this.line);
    this.line = [];
    this.lineLength = 0;
    if (this.table !== undefined) {
      if (length === 2 && line[0] === 0x5c && line[1] === 0x2e) this.table = undefined;
      else this.counts[this.table] = (this.counts[this.table] ?? 0) + 1;
      return;
    }
    if (length > COPY_PREFIX.length && line.subarray(0, COPY_PREFIX.length).equals(COPY_PREFIX)) {
      const table = copyTarget(line.toString('utf8'));
      if (table !== undefined) {
        this.table = table;
        this.counts[table] = this.counts[table] ?? 0;
      }
    }
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
