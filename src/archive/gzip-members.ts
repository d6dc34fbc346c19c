import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import { deflateRawSync, gzip } from 'node:zlib';

const gzipBlock = promisify(gzip);

export interface GzipMembersOptions {
  /** Uncompressed bytes per member. */
  blockBytes?: number;
  /**
   * Members compressed at the same time. At most 2 by default: libuv's pool has 4 threads, and
   * reading the sources, verifying the archive (gunzip) and writing it need the other ones.
   */
  parallel?: number;
}

/**
 * A gzip stream compressed on several cores, as pigz does: the input is cut into blocks, each block
 * becomes its own gzip member, members are compressed side by side and written in order. The file
 * is a concatenation of gzip members, which the format allows and which `gzip -d`, `tar -xzf` (GNU
 * tar and bsdtar) and Node's gunzip read as one stream; a 4 MB block costs under 0.1% of ratio
 * (deflate looks back only 32 KB). The level can change between entries, so that already
 * compressed data (a custom-format dump, JPEGs) is stored instead of deflated again for nothing.
 * Holds at most `parallel` blocks and their output in memory.
 */
export class GzipMembers extends Transform {
  private readonly blockBytes: number;
  private readonly parallel: number;
  private wantedLevel: number;
  private block: Buffer[] = [];
  private blockLength = 0;
  private blockLevel: number;
  private readonly compressing: Member[] = [];
  /** Input bytes taken so far; the current block is the last `blockLength` of them. */
  private inputBytes = 0;
  /** Every member started so far: the input offset it starts at, and its compressed length once known. */
  private readonly started: Array<{ inputStart: number; length: Promise<number> }> = [];
  private readonly inputWaiters: Array<{ offset: number; resolve: () => void }> = [];
  private finished = false;

  constructor(private readonly defaultLevel: number, options: GzipMembersOptions = {}) {
    super({ highWaterMark: 1024 * 1024 });
    this.blockBytes = options.blockBytes ?? 4 * 1024 * 1024;
    this.parallel = Math.max(1, options.parallel ?? Math.min(availableParallelism(), 2));
    this.wantedLevel = defaultLevel;
    this.blockLevel = defaultLevel;
  }

  /** Bytes written from now on are compressed at the default level, or stored when `stored`. */
  useStored(stored: boolean): void {
    this.wantedLevel = stored ? 0 : this.defaultLevel;
  }

  /**
   * Where a reader can start inflating to reach input offset `offset`: the compressed offset of the
   * member that holds it, and the inflated bytes to skip from there. Undefined when the input ends
   * before it. Waits for the input to reach `offset` and for the members before it to be
   * compressed, never for the member that holds it to be complete.
   */
  async seekPointOf(offset: number): Promise<{ offset: number; skip: number } | undefined> {
    if (this.inputBytes <= offset && !this.finished) await new Promise<void>((resolve) => this.inputWaiters.push({ offset, resolve }));
    if (this.inputBytes <= offset) return undefined;
    const blockStart = this.inputBytes - this.blockLength;
    let index = this.started.length;
    let inputStart = blockStart;
    if (offset < blockStart) {
      index = this.started.findLastIndex((member) => member.inputStart <= offset);
      inputStart = (this.started[index] as { inputStart: number }).inputStart;
    }
    const lengths = await Promise.all(this.started.slice(0, index).map((member) => member.length));
    return { offset: lengths.reduce((sum, length) => sum + length, 0), skip: offset - inputStart };
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.accept(chunk).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.finish().then(() => callback(), callback);
  }

  private async accept(chunk: Buffer): Promise<void> {
    if (this.blockLength > 0 && this.blockLevel !== this.wantedLevel) await this.startMember();
    this.blockLevel = this.wantedLevel;
    this.block.push(chunk);
    this.blockLength += chunk.length;
    this.inputBytes += chunk.length;
    this.wakeInputWaiters();
    if (this.blockLength >= this.blockBytes) await this.startMember();
    this.pushCompressed();
  }

  private async finish(): Promise<void> {
    // An empty input still makes one (empty) member: the output is always a gzip file.
    if (this.blockLength > 0 || this.compressing.length === 0) await this.startMember();
    this.finished = true;
    this.wakeInputWaiters();
    while (this.compressing.length > 0) await this.pushOldest();
  }

  private wakeInputWaiters(): void {
    for (let i = this.inputWaiters.length - 1; i >= 0; i--) {
      const waiter = this.inputWaiters[i] as { offset: number; resolve: () => void };
      if (this.finished || waiter.offset < this.inputBytes) {
        this.inputWaiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  /** Hands the block to the thread pool once fewer than `parallel` members are compressing. */
  private async startMember(): Promise<void> {
    const block = this.block.length === 1 ? (this.block[0] as Buffer) : Buffer.concat(this.block, this.blockLength);
    this.block = [];
    this.blockLength = 0;
    // Noted before waiting for a free slot, so that seekPointOf finds the member in either case.
    let compressed!: (output: Promise<Buffer>) => void;
    const length = new Promise<Buffer>((resolve) => (compressed = resolve)).then((output) => output.length);
    length.catch(() => undefined);
    this.started.push({ inputStart: this.inputBytes - block.length, length });
    while (this.compressing.length >= this.parallel) await this.pushOldest();
    // One output buffer for the whole member: zlib's 16 KB default means a thread-pool round trip
    // per 16 KB, which made storing slower than deflating.
    const chunkSize = block.length + 64 * 1024;
    const member: Member = { done: undefined, promise: gzipBlock(block, { level: this.blockLevel, chunkSize }) };
    // Awaited in order by pushOldest; a stream destroyed meanwhile must not leave it unhandled.
    member.promise.then((output) => (member.done = output), () => undefined);
    compressed(member.promise);
    this.compressing.push(member);
  }

  private async pushOldest(): Promise<void> {
    const oldest = this.compressing.shift() as Member;
    this.push(await oldest.promise);
  }

  /** Passes on the members that are done, in order, without waiting for the others. */
  private pushCompressed(): void {
    while (this.compressing[0]?.done !== undefined) this.push((this.compressing.shift() as Member).done);
  }
}

interface Member {
  promise: Promise<Buffer>;
  done: Buffer | undefined;
}

const SAMPLE_BYTES = 16 * 1024;

/**
 * Whether the start of a file looks already compressed: deflate at level 1 saves under 3% of a
 * 16 KB sample (JPEG, PNG, zip and gzip files, videos). A cheap guess, as borg's and restic's
 * "auto" compression make; it only decides how hard to try, never what is stored.
 */
export function looksCompressed(start: Buffer): boolean {
  if (start.length < SAMPLE_BYTES) return false;
  const sample = start.subarray(0, SAMPLE_BYTES);
  return deflateRawSync(sample, { level: 1 }).length > sample.length * 0.97;
}
