import { DEFAULT_LEVEL, type Codec } from '../archive/codec.js';
import type { BackupConfig, FerryConfig } from './schema.js';

export interface ArchiveCompression {
  codec: Codec;
  level: number;
}

export function archiveCompression(backup: BackupConfig): ArchiveCompression {
  return { codec: backup.compression, level: backup.compression_level ?? DEFAULT_LEVEL[backup.compression] };
}

/**
 * pg_dump's own compression of the custom dump. With zstd the dump is left uncompressed so that the
 * archive compresses it once, better and faster than twice.
 */
export function dumpCompression(config: Pick<FerryConfig, 'backup' | 'postgres'>): number {
  return config.postgres?.dump_compression ?? (config.backup.compression === 'zstd' ? 0 : 1);
}
