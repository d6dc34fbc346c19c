import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { FerryError } from '../errors/index.js';
import { GunzipMembers } from './gunzip-members.js';
import { spawnFilter } from '../process/index.js';

/** How an archive's tar stream is compressed. */
export type Codec = 'gzip' | 'zstd';

export const ARCHIVE_EXTENSION: Record<Codec, string> = { gzip: '.tar.gz', zstd: '.tar.zst' };

/** The level used when backup.compression_level is not set. */
export const DEFAULT_LEVEL: Record<Codec, number> = { gzip: 1, zstd: 3 };

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** The codec a file's first bytes announce (undefined for anything else; a reader then reports damage). */
export function codecOfBytes(start: Buffer): Codec | undefined {
  if (start.length >= 2 && start[0] === 0x1f && start[1] === 0x8b) return 'gzip';
  if (start.length >= 4 && start.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd';
  return undefined;
}

/** The zstd parts of node:zlib, present from Node 22.15 (and 23.8), absent from the typings Ferry builds with. */
interface ZlibWithZstd {
  createZstdCompress(options?: { params?: Record<number, number> }): Duplex;
  createZstdDecompress(): Duplex;
  constants: { ZSTD_c_compressionLevel: number; ZSTD_c_checksumFlag: number };
}

const nodeZstd = (): ZlibWithZstd | undefined => {
  const candidate = zlib as unknown as Partial<ZlibWithZstd>;
  return typeof candidate.createZstdCompress === 'function' && typeof candidate.createZstdDecompress === 'function' ? candidate as ZlibWithZstd : undefined;
};

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '').some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Where zstd comes from on this machine: the running Node's own zlib, else the `zstd` command.
 * Checked when the configuration asks for zstd and when a zstd archive is read.
 */
export function zstdBackend(): 'node:zlib' | 'zstd command' {
  if (nodeZstd() !== undefined) return 'node:zlib';
  if (onPath('zstd')) return 'zstd command';
  throw new FerryError('ZSTD_UNAVAILABLE', `zstd is not available: Node ${process.versions.node} has no zstd in zlib and no zstd command is on PATH`, {
    hint: 'Install the zstd command (apt-get install zstd, brew install zstd), or run Ferry on Node 22.15 or newer; or set backup.compression: gzip.',
  });
}

/** Node's own zstd stream when it has one, else the zstd command with `commandArgs`. */
function zstdStream(fromNode: (node: ZlibWithZstd) => Duplex, commandArgs: string[]): Duplex {
  const node = nodeZstd();
  if (node !== undefined) return fromNode(node);
  // Throws ZSTD_UNAVAILABLE when the command is missing too.
  zstdBackend();
  return spawnFilter('zstd', commandArgs);
}

/** A zstd compressor at `level`; the command runs on every core (-T0). */
export function zstdCompressor(level: number): Duplex {
  // A frame checksum, as the zstd command writes by default: damage is found by zstd itself too.
  return zstdStream((node) => node.createZstdCompress({ params: { [node.constants.ZSTD_c_compressionLevel]: level, [node.constants.ZSTD_c_checksumFlag]: 1 } }), ['-q', '-c', `-${level}`, '-T0']);
}

/** Turns an archive's bytes into tar bytes. */
export function decompressor(codec: Codec): Duplex {
  if (codec === 'gzip') return new GunzipMembers();
  return zstdStream((node) => node.createZstdDecompress(), ['-q', '-d', '-c']);
}

/**
 * Waits for the first bytes of a stream and puts them back, so the codec can be told before the
 * stream is piped anywhere. Fewer than four bytes means the stream ended first.
 */
export async function peekStart(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  while (length < 4) {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      chunks.push(chunk);
      length += chunk.length;
      continue;
    }
    if (stream.readableEnded || stream.destroyed) break;
    const more = await new Promise<boolean>((resolveMore, rejectMore) => {
      const done = (value: boolean) => () => {
        stream.off('readable', onReadable);
        stream.off('end', onEnd);
        stream.off('error', onError);
        resolveMore(value);
      };
      const onReadable = done(true);
      const onEnd = done(false);
      const onError = (error: Error) => {
        stream.off('readable', onReadable);
        stream.off('end', onEnd);
        rejectMore(error);
      };
      stream.once('readable', onReadable);
      stream.once('end', onEnd);
      stream.once('error', onError);
    });
    if (!more) break;
  }
  const start = Buffer.concat(chunks);
  if (start.length > 0) stream.unshift(start);
  return start;
}
