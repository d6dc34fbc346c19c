import { Transform, type TransformCallback } from 'node:stream';
import { crc32, createInflateRaw, type InflateRaw } from 'node:zlib';

/** Deflate looks back at most this far: a compressed block after stored ones may refer to them. */
const WINDOW_BYTES = 32 * 1024;
/** Compressed bytes handed to zlib at a time, so that what they inflate to waits for the reader. */
const INFLATE_PIECE_BYTES = 64 * 1024;

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const RESERVED_FLAGS = 0xe0;

type State = 'header' | 'block' | 'stored' | 'inflating' | 'trailer' | 'between' | 'ignoring';

/**
 * gunzip for archives whose big entries are stored, not deflated: Ferry stores what is already
 * compressed (the custom-format dump, photos), so most of an archive is stored deflate blocks. Those
 * are passed on as slices of the bytes read, with no copy and no thread-pool round trip; zlib
 * inflates only the compressed blocks (from the first one in a member to its end). It reads what
 * zlib's gunzip reads, members one after another, and fails where it fails, with zlib's messages:
 * bad header, bad block, CRC or length mismatch, a stream cut short. Zero bytes after a member
 * end the stream, as zlib's padding rule has it.
 *
 * The input's chunks must not be reused by whoever wrote them (streams hand their chunks over).
 */
export class GunzipMembers extends Transform {
  private state: State = 'header';
  /** Bytes of a header, block header or trailer cut by the end of a chunk. */
  private carry: Buffer = Buffer.alloc(0);
  private storedLeft = 0;
  private finalBlock = false;
  private crc = 0;
  private size = 0;
  /** The member's latest output, at least WINDOW_BYTES of it when there is that much. */
  private recent: Buffer[] = [];
  private recentBytes = 0;
  private inflater: InflateRaw | undefined;
  private fed = 0;
  private roomWaiter: (() => void) | undefined;

  constructor() {
    super({ readableHighWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.consume(chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.state === 'between' || this.state === 'ignoring' ? null : zlibError('unexpected end of file', 'Z_BUF_ERROR'));
  }

  override _read(size: number): void {
    const waiter = this.roomWaiter;
    this.roomWaiter = undefined;
    waiter?.();
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inflater?.destroy();
    this.inflater = undefined;
    const waiter = this.roomWaiter;
    this.roomWaiter = undefined;
    waiter?.();
    callback(error);
  }

  private async consume(chunk: Buffer): Promise<void> {
    let pos = 0;
    while (pos < chunk.length && !this.destroyed) {
      switch (this.state) {
        case 'header': {
          const available = this.carry.length === 0 ? chunk.subarray(pos) : Buffer.concat([this.carry, chunk.subarray(pos)]);
          const length = headerLength(available);
          if (length === undefined) {
            this.carry = available;
            pos = chunk.length;
            break;
          }
          pos += length - this.carry.length;
          this.carry = Buffer.alloc(0);
          this.startMember();
          break;
        }
        case 'block': {
          const first = this.carry.length > 0 ? (this.carry[0] as number) : (chunk[pos] as number);
          const type = (first >> 1) & 3;
          if (type === 3) throw zlibError('invalid block type', 'Z_DATA_ERROR');
          // Carried bytes here are always a stored block's header being gathered.
          if (type !== 0) {
            this.startInflater();
            break;
          }
          const taken = this.gather(chunk, pos, 5);
          pos = taken.pos;
          if (taken.bytes === undefined) break;
          const length = taken.bytes.readUInt16LE(1);
          if (length !== (~taken.bytes.readUInt16LE(3) & 0xffff)) throw zlibError('invalid stored block lengths', 'Z_DATA_ERROR');
          this.finalBlock = (first & 1) === 1;
          this.storedLeft = length;
          this.state = length === 0 ? this.afterBlock() : 'stored';
          break;
        }
        case 'stored': {
          const end = Math.min(chunk.length, pos + this.storedLeft);
          const out = chunk.subarray(pos, end);
          this.storedLeft -= out.length;
          pos = end;
          this.remember(out);
          this.output(out);
          if (this.storedLeft === 0) this.state = this.afterBlock();
          break;
        }
        case 'inflating':
          pos = await this.feedInflater(chunk, pos);
          break;
        case 'trailer': {
          const taken = this.gather(chunk, pos, 8);
          pos = taken.pos;
          if (taken.bytes === undefined) break;
          if (taken.bytes.readUInt32LE(0) !== this.crc) throw zlibError('incorrect data check', 'Z_DATA_ERROR');
          if (taken.bytes.readUInt32LE(4) !== this.size) throw zlibError('incorrect length check', 'Z_DATA_ERROR');
          this.state = 'between';
          break;
        }
        case 'between':
          this.state = chunk[pos] === 0 ? 'ignoring' : 'header';
          break;
        case 'ignoring':
          pos = chunk.length;
          break;
      }
    }
  }

  private startMember(): void {
    this.state = 'block';
    this.crc = 0;
    this.size = 0;
    this.recent = [];
    this.recentBytes = 0;
  }

  private afterBlock(): State {
    return this.finalBlock ? 'trailer' : 'block';
  }

  /** `count` bytes from `pos` on, with those carried from the chunks before; undefined until there are enough. */
  private gather(chunk: Buffer, pos: number, count: number): { bytes: Buffer | undefined; pos: number } {
    if (this.carry.length === 0 && chunk.length - pos >= count) return { bytes: chunk.subarray(pos, pos + count), pos: pos + count };
    const wanted = count - this.carry.length;
    const end = Math.min(chunk.length, pos + wanted);
    this.carry = Buffer.concat([this.carry, chunk.subarray(pos, end)]);
    if (this.carry.length < count) return { bytes: undefined, pos: end };
    const bytes = this.carry;
    this.carry = Buffer.alloc(0);
    return { bytes, pos: end };
  }

  private output(out: Buffer): void {
    this.crc = crc32(out, this.crc);
    this.size = (this.size + out.length) >>> 0;
    this.push(out);
  }

  private remember(out: Buffer): void {
    this.recent.push(out);
    this.recentBytes += out.length;
    while (this.recentBytes - (this.recent[0] as Buffer).length >= WINDOW_BYTES) this.recentBytes -= (this.recent.shift() as Buffer).length;
  }

  /** zlib takes over the member at its first compressed block, knowing the stored bytes before it. */
  private startInflater(): void {
    const window = Buffer.concat(this.recent, this.recentBytes);
    const dictionary = window.subarray(Math.max(0, window.length - WINDOW_BYTES));
    const inflater = createInflateRaw({ chunkSize: 1024 * 1024, ...(dictionary.length > 0 ? { dictionary } : {}) });
    inflater.on('data', (out: Buffer) => this.output(out));
    inflater.on('error', () => undefined);
    this.inflater = inflater;
    this.fed = 0;
    this.recent = [];
    this.recentBytes = 0;
    this.state = 'inflating';
  }

  /**
   * Hands compressed bytes to zlib until the member's deflate stream ends, which zlib shows by
   * consuming less than it was given. Returns the position after the stream's last byte, or the
   * chunk's end when the stream goes on in the next chunk.
   */
  private async feedInflater(chunk: Buffer, pos: number): Promise<number> {
    const inflater = this.inflater as InflateRaw;
    while (pos < chunk.length) {
      const piece = chunk.subarray(pos, Math.min(chunk.length, pos + INFLATE_PIECE_BYTES));
      await written(inflater, piece);
      this.fed += piece.length;
      const unused = this.fed - inflater.bytesWritten;
      if (unused > 0) {
        if (!inflater.readableEnded) await new Promise((resolveEnd) => inflater.once('end', resolveEnd));
        inflater.destroy();
        this.inflater = undefined;
        this.state = 'trailer';
        return pos + piece.length - unused;
      }
      pos += piece.length;
      await this.room();
    }
    return pos;
  }

  /** Resolves once the reader has taken what was pushed (or the stream is gone). */
  private room(): Promise<void> {
    if (this.destroyed || this.readableLength < this.readableHighWaterMark) return Promise.resolve();
    return new Promise((resolveRoom) => (this.roomWaiter = resolveRoom));
  }
}

function written(inflater: InflateRaw, piece: Buffer): Promise<void> {
  return new Promise((resolveWrite, rejectWrite) => {
    const onError = (error: Error) => rejectWrite(error);
    inflater.once('error', onError);
    inflater.write(piece, (error) => {
      inflater.off('error', onError);
      if (error) rejectWrite(error);
      else resolveWrite();
    });
  });
}

/** The gzip member header's length (RFC 1952), or undefined when `bytes` ends before it does. */
function headerLength(bytes: Buffer): number | undefined {
  if (bytes.length >= 1 && bytes[0] !== 0x1f) throw zlibError('incorrect header check', 'Z_DATA_ERROR');
  if (bytes.length >= 2 && bytes[1] !== 0x8b) throw zlibError('incorrect header check', 'Z_DATA_ERROR');
  if (bytes.length >= 3 && bytes[2] !== 8) throw zlibError('unknown compression method', 'Z_DATA_ERROR');
  if (bytes.length < 10) return undefined;
  const flags = bytes[3] as number;
  if ((flags & RESERVED_FLAGS) !== 0) throw zlibError('unknown header flags set', 'Z_DATA_ERROR');
  let length = 10;
  if ((flags & FEXTRA) !== 0) {
    if (bytes.length < length + 2) return undefined;
    length += 2 + bytes.readUInt16LE(length);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if ((flags & flag) === 0) continue;
    const zero = bytes.indexOf(0, length);
    if (zero < 0) return undefined;
    length = zero + 1;
  }
  if ((flags & FHCRC) !== 0) {
    if (bytes.length < length + 2) return undefined;
    if (bytes.readUInt16LE(length) !== (crc32(bytes.subarray(0, length)) & 0xffff)) throw zlibError('header crc mismatch', 'Z_DATA_ERROR');
    length += 2;
  }
  return bytes.length >= length ? length : undefined;
}

function zlibError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code, errno: code === 'Z_BUF_ERROR' ? -5 : -3 });
}
