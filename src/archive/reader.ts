import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract } from 'tar-stream';
import { FerryError, interrupted } from '../errors/index.js';
import { codecOfBytes, decompressor, peekStart } from './codec.js';

export interface ArchiveEntryHeader {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mode: number;
  mtime: Date;
  linkTarget?: string;
  /** A hard link (type 'other'): `linkTarget` names the entry it shares its data with. */
  hardLink?: boolean;
}

export interface EntryDigest {
  size: number;
  sha256: string;
}

/**
 * Handles one entry. It must consume `data` fully (or pipe it somewhere); the returned digest is of
 * exactly the bytes that were in the archive.
 */
export type EntryHandler = (header: ArchiveEntryHeader, data: Readable) => Promise<void>;

export interface ReadArchiveOptions {
  signal?: AbortSignal;
  onCompressedBytes?: (bytes: number) => void;
  /** Turns the file's bytes into tar.gz bytes (age decryption). */
  decrypt?: (encrypted: Readable) => Promise<Readable>;
  /** Start at an entry's seek point (manifest `seek`) instead of the file's start: gzip, not encrypted. */
  from?: { offset: number; skip: number };
}

/**
 * Streams every entry of a tar.gz or tar.zst file (told by its first bytes, not its name) once, in
 * order. Damage is reported as ARCHIVE_CORRUPT with an offset.
 */
export async function readArchive(path: string, onEntry: EntryHandler, options: ReadArchiveOptions = {}): Promise<void> {
  const opened = createReadStream(path, { highWaterMark: 1024 * 1024, start: options.from?.offset ?? 0 });
  const source = options.decrypt === undefined ? opened : await options.decrypt(opened).catch((error: unknown) => {
    opened.destroy();
    throw error;
  });
  return readArchiveStream(source, path, onEntry, options);
}

/** The same over a stream of compressed tar bytes (being written, or being decrypted). */
export async function readArchiveStream(stream: Readable, path: string, onEntry: EntryHandler, options: ReadArchiveOptions = {}): Promise<void> {
  let compressedOffset = options.from?.offset ?? 0;
  let currentEntry: string | undefined;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      compressedOffset += chunk.length;
      options.onCompressedBytes?.(compressedOffset);
      callback(null, chunk);
    },
  });
  const extract = tarExtract();
  const top = new TopFolder(path);
  const consume = (async () => {
    for await (const entry of extract) {
      if (options.signal?.aborted) throw interrupted();
      const relative = top.relative(entry.header.name.replace(/^\.\//, ''));
      if (relative === undefined) {
        entry.resume();
        continue;
      }
      const header: ArchiveEntryHeader = {
        path: relative,
        type: entry.header.type === 'file' || entry.header.type === 'contiguous-file' ? 'file'
          : entry.header.type === 'directory' ? 'directory'
          : entry.header.type === 'symlink' ? 'symlink' : 'other',
        size: entry.header.size,
        mode: entry.header.mode,
        mtime: entry.header.mtime,
        ...(entry.header.type === 'symlink' ? { linkTarget: entry.header.linkname } : {}),
        ...(entry.header.type === 'link' && typeof entry.header.linkname === 'string' ? { linkTarget: top.relative(entry.header.linkname.replace(/^\.\//, '')) ?? entry.header.linkname, hardLink: true } : {}),
      };
      currentEntry = header.path;
      await onEntry(header, entry as unknown as Readable);
      entry.resume();
    }
    currentEntry = undefined;
  })();
  // Settled through Promise.all below, or dropped when the stream fails before it is fed.
  consume.catch(() => undefined);
  try {
    // Anything that is not zstd goes to gunzip, which names the damage as before.
    const inflate = decompressor(codecOfBytes(await peekStart(stream)) ?? 'gzip');
    const stages = options.from === undefined || options.from.skip === 0 ? [inflate] : [inflate, skipping(options.from.skip)];
    const feed = pipeline([stream, counter, ...stages, extract as unknown as Writable], { signal: options.signal });
    await Promise.all([feed, consume]);
  } catch (cause) {
    extract.destroy();
    stream.destroy();
    if (cause instanceof StopReading) return;
    if (options.signal?.aborted) throw interrupted();
    if (cause instanceof FerryError) throw cause;
    throw corrupt(path, cause, compressedOffset, currentEntry);
  }
}

/** Drops the first `bytes` bytes of a stream. */
function skipping(bytes: number): Transform {
  let left = bytes;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (left >= chunk.length) {
        left -= chunk.length;
        callback();
        return;
      }
      const rest = chunk.subarray(left);
      left = 0;
      callback(null, rest);
    },
  });
}

/** Thrown by an entry handler that needs nothing further from the archive: the read ends there, quietly. */
export class StopReading extends Error {
  constructor() {
    super('stop reading');
  }
}

/** Names the old scripts gave the folder they archived: `cd dir; tar -czf backup_X.tar.gz backup_X`. */
const TOP_FOLDER = /^backup_[^/]+\//;

/**
 * The old scripts' archives hold everything under one top folder, directory entries included.
 * When the first entry is in such a folder, every entry is taken relative to it (the folder's own
 * entry is skipped), so each reader (verify, inspect, restore) sees the layout Ferry writes.
 */
class TopFolder {
  private prefix: string | null | undefined;

  constructor(private readonly archive: string) {}

  /** The entry's path below the top folder; undefined for the folder itself. */
  relative(name: string): string | undefined {
    if (this.prefix === undefined) this.prefix = TOP_FOLDER.exec(name)?.[0] ?? null;
    if (this.prefix === null) return name;
    if (name === this.prefix || name === this.prefix.slice(0, -1)) return undefined;
    if (!name.startsWith(this.prefix)) {
      throw new FerryError('ARCHIVE_CORRUPT', `archive ${this.archive}: entry ${name} is outside the top folder ${this.prefix} the other entries are in`, {
        hint: 'An old scripts\' archive holds one folder; extract it (tar -xzf) and archive that one folder again.',
      });
    }
    return name.slice(this.prefix.length);
  }
}

function corrupt(path: string, cause: unknown, offset: number, entry: string | undefined): FerryError {
  const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOENT') {
    return new FerryError('ARCHIVE_NOT_FOUND', `archive ${path} does not exist`, { hint: 'Run ferry list to see the backups there are.', cause });
  }
  if (errno === 'EACCES') {
    return new FerryError('ARCHIVE_NOT_FOUND', `archive ${path} cannot be read: permission denied`, { hint: 'Run ferry as a user that can read the backup directory.', cause });
  }
  const raw = (cause as Error | undefined)?.message ?? String(cause);
  const reason = raw === 'invalid tag' ? 'the encrypted data does not authenticate (changed or cut short)' : raw;
  const where = entry === undefined ? '' : ` in entry ${entry}`;
  // The file is read ahead in 1 MB chunks, so the damage lies at or before this position, not at it.
  return new FerryError('ARCHIVE_CORRUPT', `archive ${path} is damaged${where}: ${reason} (found within the first ${offset} compressed bytes)`, {
    hint: 'The file is truncated or corrupt; restore from another backup (ferry list) and check the disk it was stored on.',
    cause,
  });
}

/** A pass-through that digests what flows through it (and keeps it, up to `keepUpTo` bytes). */
export class DigestStream extends Transform {
  private readonly hash = createHash('sha256');
  private readonly chunks: Buffer[] = [];
  size = 0;

  constructor(private readonly keepUpTo = 0) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.size <= this.keepUpTo) this.chunks.push(chunk);
    callback(null, chunk);
  }

  /** What flowed through, when it fitted in `keepUpTo`. */
  kept(): Buffer | undefined {
    return this.size <= this.keepUpTo ? Buffer.concat(this.chunks) : undefined;
  }

  digest(): EntryDigest {
    return { size: this.size, sha256: this.hash.digest('hex') };
  }
}

/** Reads a stream to its end, discarding what it holds (an entry that is only counted or skipped). */
export async function drain(data: Readable): Promise<void> {
  if (data.readableEnded) return;
  data.resume();
  await new Promise((resolveEnd) => data.once('end', resolveEnd));
}

/** Reads a whole small entry (manifest, info) into memory, refusing anything unexpectedly large. */
export async function readSmallEntry(data: Readable, limit = 256 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of data as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new FerryError('ARCHIVE_CORRUPT', `an archive entry expected to be small is over ${limit} bytes`, { hint: 'The archive is damaged or not written by Ferry.' });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
