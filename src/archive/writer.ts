import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PassThrough, Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack, type Header as TarHeaders } from 'tar-stream';
import { FerryError } from '../errors/index.js';
import type { ManifestEntry } from './manifest.js';
import { PARTIAL_SUFFIX } from './naming.js';
import { syncDirectory } from './atomic-file.js';
import { GzipMembers, looksCompressed } from './gzip-members.js';
import { TarEntryOffsets } from './tar-offsets.js';
import { zstdCompressor, type Codec } from './codec.js';
import { encrypting, type EncryptionSettings } from './encryption.js';
import { drainedOrClosed } from '../util/drain.js';

export interface EntryAttributes {
  mode?: number;
  mtime?: Date;
  /**
   * The content is compressed already (true: stored as is) or not (false: deflated). Unsaid, an
   * entry of 64 KB or more is judged by its first bytes, and a smaller one follows the entry before it.
   */
  compressed?: boolean;
  /**
   * Record where the entry begins (manifest `seek`), for a restore that wants it before what is
   * written ahead of it: the database dump, which backup writes after the uploads.
   */
  seekPoint?: boolean;
}

/** What a store may write into an archive. Entries are written one after another. */
export interface ArchiveSink {
  addFile(path: string, source: string, size: number, attributes?: EntryAttributes): Promise<ManifestEntry>;
  addStream(path: string, source: Readable, size: number, attributes?: EntryAttributes): Promise<ManifestEntry>;
  addBuffer(path: string, content: Buffer, attributes?: EntryAttributes): Promise<ManifestEntry>;
  addDirectory(path: string, attributes?: EntryAttributes): Promise<ManifestEntry>;
  addSymlink(path: string, target: string, attributes?: EntryAttributes): Promise<ManifestEntry>;
}

export interface ArchiveWriterOptions {
  /** gzip when absent. */
  codec?: Codec;
  compressionLevel: number;
  /** Called with the number of bytes of entry data written so far, for progress. */
  onBytes?: (bytes: number) => void;
  /** Encrypt the archive with age while writing. */
  encryption?: EncryptionSettings;
  /** Receives the compressed, clear bytes as they are written (to verify them in the same pass). */
  tap?: Writable;
}

export interface FinishedArchive {
  partialPath: string;
  size: number;
  sha256: string;
}

/**
 * Streams a tar.gz or tar.zst into `<final>.partial` (mode 0600, never overwriting), hashing every entry and
 * the whole file on the way. Nothing is ever held in memory beyond a stream buffer.
 */
export class ArchiveWriter implements ArchiveSink {
  private pack!: ReturnType<typeof tarPack>;
  /** Absent for zstd, which judges each block itself. */
  private gzip: GzipMembers | undefined;
  /** Where each entry begins in the tar stream; absent when offsets in the file would mean nothing (zstd, encrypted). */
  private tarOffsets: TarEntryOffsets | undefined;
  /** Indexes in `entries` of those written with `seekPoint`. */
  private readonly seekPoints = new Set<number>();
  private readonly archiveHash: Hash = createHash('sha256');
  private archiveSize = 0;
  private entryBytes = 0;
  private readonly written: Promise<void>;
  private failure: unknown;
  /** Every entry written so far, in order: the manifest's entry list. */
  readonly entries: ManifestEntry[] = [];

  private constructor(
    readonly finalPath: string,
    private readonly output: WriteStream,
    private readonly options: ArchiveWriterOptions,
    compressed: Readable,
    clearPart: Promise<void>,
  ) {
    const counter = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.archiveHash.update(chunk);
        this.archiveSize += chunk.length;
        callback(null, chunk);
      },
    });
    this.written = Promise.all([clearPart, pipeline(compressed, counter, output)]).then(() => undefined);
    this.written.catch((error: unknown) => {
      this.failure = error;
    });
  }

  get partialPath(): string {
    return this.finalPath + PARTIAL_SUFFIX;
  }

  static async create(finalPath: string, options: ArchiveWriterOptions): Promise<ArchiveWriter> {
    const partial = finalPath + PARTIAL_SUFFIX;
    const output = createWriteStream(partial, { flags: 'wx', mode: 0o600 });
    try {
      await once(output, 'open');
    } catch (cause) {
      throw writeError(cause, partial);
    }
    const pack = tarPack();
    const clear = new PassThrough({ highWaterMark: 1024 * 1024 });
    const gzip = options.codec === 'zstd' ? undefined : new GzipMembers(options.compressionLevel);
    const tarOffsets = gzip === undefined || options.encryption !== undefined ? undefined : new TarEntryOffsets();
    const stages: Array<NodeJS.ReadWriteStream> = [...(tarOffsets === undefined ? [] : [tarOffsets]), gzip ?? zstdCompressor(options.compressionLevel)];
    if (options.tap !== undefined) stages.push(tee(options.tap));
    const clearPart = pipeline([pack as unknown as Readable, ...stages, clear]);
    const compressed = options.encryption === undefined ? clear : await encrypting(clear, options.encryption);
    const writer = new ArchiveWriter(finalPath, output, options, compressed, clearPart);
    writer.pack = pack;
    writer.gzip = gzip;
    writer.tarOffsets = tarOffsets;
    return writer;
  }

  async addFile(path: string, source: string, size: number, attributes: EntryAttributes = {}): Promise<ManifestEntry> {
    // Read exactly the size that was announced in the header: a file that grows meanwhile is cut at
    // that size, one that shrinks is an error below.
    const stream = size === 0 ? undefined : createReadStream(source, { start: 0, end: size - 1, highWaterMark: 256 * 1024 });
    return this.writeEntry(path, size, attributes, stream);
  }

  async addStream(path: string, source: Readable, size: number, attributes: EntryAttributes = {}): Promise<ManifestEntry> {
    return this.writeEntry(path, size, attributes, source);
  }

  async addBuffer(path: string, content: Buffer, attributes: EntryAttributes = {}): Promise<ManifestEntry> {
    const hash = createHash('sha256').update(content).digest('hex');
    this.gzip?.useStored(false);
    await this.withEntry({ name: path, size: content.length, type: 'file', ...header(attributes, 0o600) }, async (entry) => {
      entry.end(content);
    });
    return this.record({ path, type: 'file', size: content.length, sha256: hash, ...describe(attributes) });
  }

  async addDirectory(path: string, attributes: EntryAttributes = {}): Promise<ManifestEntry> {
    const name = path.endsWith('/') ? path : `${path}/`;
    await this.withEntry({ name, type: 'directory', size: 0, ...header(attributes, 0o755) }, async (entry) => {
      entry.end();
    });
    return this.record({ path: name, type: 'directory', size: 0, ...describe(attributes) });
  }

  async addSymlink(path: string, target: string, attributes: EntryAttributes = {}): Promise<ManifestEntry> {
    await this.withEntry({ name: path, type: 'symlink', linkname: target, size: 0, ...header(attributes, 0o777) }, async (entry) => {
      entry.end();
    });
    return this.record({ path, type: 'symlink', size: 0, linkTarget: target, ...describe(attributes) });
  }

  /**
   * The entries written so far, for the manifest: those written with `seekPoint` with where they
   * begin (the offset in the archive file of the gzip member holding their header, and the inflated
   * bytes before the header in that member). Waits only for what is already written to be compressed.
   */
  async manifestEntries(): Promise<ManifestEntry[]> {
    const { gzip, tarOffsets } = this;
    if (gzip === undefined || tarOffsets === undefined) return [...this.entries];
    // A failing disk ends the streams; the offsets would then never come.
    const failed = this.written.then(() => undefined);
    failed.catch(() => undefined);
    try {
      return await Promise.all(this.entries.map(async (entry, index) => {
        if (!this.seekPoints.has(index)) return entry;
        const seek = await Promise.race([tarOffsets.startOf(index).then((start) => (start === undefined ? undefined : gzip.seekPointOf(start))), failed]);
        return seek === undefined ? entry : { ...entry, seek };
      }));
    } catch (cause) {
      throw writeError(this.failure ?? cause, this.partialPath);
    }
  }

  /** Ends the tar and the compressed stream, and makes the partial file durable. */
  async finish(): Promise<FinishedArchive> {
    this.pack.finalize();
    try {
      await this.written;
    } catch (cause) {
      throw writeError(cause, this.partialPath);
    }
    const handle = await open(this.partialPath, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    return { partialPath: this.partialPath, size: this.archiveSize, sha256: this.archiveHash.digest('hex') };
  }

  /** Moves the finished partial file to its final name. */
  async commit(): Promise<string> {
    try {
      await rename(this.partialPath, this.finalPath);
    } catch (cause) {
      throw writeError(cause, this.finalPath);
    }
    await syncDirectory(dirname(this.finalPath));
    return this.finalPath;
  }

  /** Stops writing and removes the partial file; safe to call at any point and more than once. */
  async discard(): Promise<void> {
    this.pack.destroy();
    this.output.destroy();
    await this.written.catch(() => undefined);
    await rm(this.partialPath, { force: true });
  }

  private record(entry: ManifestEntry): ManifestEntry {
    this.entries.push(entry);
    return entry;
  }

  private async writeEntry(path: string, size: number, attributes: EntryAttributes, source: Readable | undefined): Promise<ManifestEntry> {
    const hash = createHash('sha256');
    let seen = 0;
    await this.withEntry({ name: path, size, type: 'file', ...header(attributes, 0o644) }, async (entry) => {
      if (source !== undefined) {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          this.throwIfFailed();
          if (seen === 0) this.chooseCompression(size, chunk, attributes.compressed);
          seen += chunk.length;
          if (seen > size) throw new FerryError('UPLOADS_UNREADABLE', `${path} changed size while it was being archived`, { hint: 'Run the backup again when the file is no longer being written.' });
          hash.update(chunk);
          this.entryBytes += chunk.length;
          this.options.onBytes?.(this.entryBytes);
          if (!entry.write(chunk)) await waitForDrain(entry, () => this.failure);
        }
      }
      if (seen !== size) throw new FerryError('UPLOADS_UNREADABLE', `${path} shrank from ${size} to ${seen} bytes while it was being archived`, { hint: 'Run the backup again when the file is no longer being written.' });
      entry.end();
    });
    if (attributes.seekPoint === true) this.seekPoints.add(this.entries.length);
    return this.record({ path, type: 'file', size, sha256: hash.digest('hex'), ...describe(attributes) });
  }

  private chooseCompression(size: number, start: Buffer, compressed: boolean | undefined): void {
    if (compressed !== undefined) this.gzip?.useStored(compressed);
    else if (size >= 64 * 1024 && this.gzip !== undefined) this.gzip.useStored(looksCompressed(start));
  }

  private async withEntry(headers: Partial<TarHeaders> & { name: string }, write: (entry: EntryStream) => Promise<void>): Promise<void> {
    this.throwIfFailed();
    let entryError: unknown;
    const done = new Promise<void>((resolveDone, rejectDone) => {
      const entry = this.pack.entry(headers, (error) => {
        if (error) rejectDone(error);
        else resolveDone();
      }) as unknown as EntryStream;
      // A failing disk destroys the pack and with it this entry; the failure reaches us through the
      // callback above and this.failure, so the entry's own error event must not crash the process.
      entry.once('error', () => undefined);
      write(entry).catch((error: unknown) => {
        entryError = error;
        entry.destroy(error instanceof Error ? error : new Error(String(error)));
        rejectDone(error);
      });
    });
    try {
      await done;
    } catch (cause) {
      if (entryError instanceof FerryError) throw entryError;
      throw writeError(this.failure ?? cause, this.partialPath);
    }
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw writeError(this.failure, this.partialPath);
  }
}

/** Passes bytes on and copies them to `tap`, waiting for it: the tap's reader sets the pace. */
function tee(tap: Writable): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      // A reader that gave up (it found a problem) must not stall the archive being written.
      if (tap.destroyed || tap.writableEnded || tap.write(chunk)) {
        callback(null, chunk);
        return;
      }
      void drainedOrClosed(tap).then(() => callback(null, chunk));
    },
    flush(callback) {
      if (!tap.destroyed) tap.end();
      callback();
    },
    destroy(error, callback) {
      // pipeline() destroys its streams when it is done too; only a failure ends the tap early.
      if (error !== null) tap.destroy(error);
      callback(error);
    },
  });
}

interface EntryStream {
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): void;
  destroy(error?: Error): void;
  once(event: 'drain' | 'close' | 'error', listener: () => void): void;
  removeListener(event: 'drain' | 'close' | 'error', listener: () => void): void;
}

function waitForDrain(entry: EntryStream, failed: () => unknown): Promise<void> {
  return new Promise((resolveDrain, rejectDrain) => {
    const cleanup = () => {
      entry.removeListener('drain', onDrain);
      entry.removeListener('close', onClose);
    };
    const onDrain = () => {
      cleanup();
      resolveDrain();
    };
    const onClose = () => {
      cleanup();
      rejectDrain(failed() ?? new Error('archive stream closed'));
    };
    entry.once('drain', onDrain);
    entry.once('close', onClose);
  });
}

function header(attributes: EntryAttributes, defaultMode: number): { mode: number; mtime: Date } {
  return { mode: attributes.mode ?? defaultMode, mtime: attributes.mtime ?? new Date() };
}

function describe(attributes: EntryAttributes): Pick<ManifestEntry, 'mode' | 'mtime'> {
  return {
    ...(attributes.mode === undefined ? {} : { mode: attributes.mode }),
    ...(attributes.mtime === undefined ? {} : { mtime: attributes.mtime.toISOString() }),
  };
}

export function writeError(cause: unknown, path: string): FerryError {
  if (cause instanceof FerryError) return cause;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') {
    return new FerryError('DISK_FULL', `no space left while writing ${path}`, {
      hint: 'Free space in the backup directory (or lower BACKUP_RETENTION_DAYS), then run the backup again; nothing was pruned.',
      cause,
    });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new FerryError('BACKUP_DIR_UNWRITABLE', `cannot write ${path}: permission denied`, {
      hint: 'Make the backup directory writable by the user running ferry, or set BACKUP_DIRECTORY to one that is.',
      cause,
    });
  }
  return new FerryError('BACKUP_DIR_UNWRITABLE', `cannot write ${path}: ${(cause as Error | undefined)?.message ?? String(cause)}`, {
    hint: 'Check the backup directory and its filesystem, then run the backup again.',
    cause,
  });
}
