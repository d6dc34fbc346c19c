import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;
/** Typeflags of headers that describe the entry after them (pax, global pax, GNU long name and link). */
const PREFIX_TYPES = new Set(['x', 'g', 'L', 'K'].map((c) => c.charCodeAt(0)));

/**
 * Passes a tar stream on unchanged and notes where each entry begins in it: the offset of its first
 * header block (its pax header, when it has one). It reads the headers that were really written,
 * instead of predicting tar-stream's choice between a plain and a pax header. The n-th offset noted
 * belongs to the n-th entry written.
 */
export class TarEntryOffsets extends Transform {
  private readonly starts: number[] = [];
  /** Callers of startOf waiting for an entry, by its index. */
  private readonly waiters = new Map<number, Array<(offset: number | undefined) => void>>();
  private position = 0;
  private nextHeader = 0;
  private header: Buffer[] = [];
  private headerLength = 0;
  private entryStart: number | undefined;
  private ended = false;

  /** Where the `index`-th entry begins, once its header has passed; undefined if the stream ends first. */
  startOf(index: number): Promise<number | undefined> {
    if (index < this.starts.length) return Promise.resolve(this.starts[index]);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.set(index, [...(this.waiters.get(index) ?? []), resolve]));
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let at = 0;
    while (!this.ended && this.nextHeader < this.position + chunk.length) {
      const from = Math.max(at, this.nextHeader - this.position);
      const take = Math.min(BLOCK - this.headerLength, chunk.length - from);
      this.header.push(chunk.subarray(from, from + take));
      this.headerLength += take;
      at = from + take;
      if (this.headerLength < BLOCK) break;
      this.readHeader(Buffer.concat(this.header, BLOCK));
    }
    this.position += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.settle();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.settle();
    callback(error);
  }

  private readHeader(block: Buffer): void {
    const at = this.nextHeader;
    this.header = [];
    this.headerLength = 0;
    if (block.every((byte) => byte === 0)) {
      this.settle();
      return;
    }
    const size = sizeField(block);
    this.nextHeader = at + BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    this.entryStart ??= at;
    if (PREFIX_TYPES.has(block[156] as number)) return;
    const index = this.starts.push(this.entryStart) - 1;
    for (const resolve of this.waiters.get(index) ?? []) resolve(this.entryStart);
    this.waiters.delete(index);
    this.entryStart = undefined;
  }

  private settle(): void {
    this.ended = true;
    for (const [index, resolvers] of this.waiters) for (const resolve of resolvers) resolve(this.starts[index]);
    this.waiters.clear();
  }
}

/** The size field: octal text, or base-256 when its first byte has the high bit set (sizes over 8 GB). */
function sizeField(block: Buffer): number {
  const field = block.subarray(124, 136);
  if (((field[0] as number) & 0x80) !== 0) {
    let value = (field[0] as number) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] as number);
    return value;
  }
  const text = field.toString('latin1').replace(/[\0 ]+$/g, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}
