import type { Readable } from 'node:stream';
import { sidecarNames } from '../archive/index.js';
import type { StorageConfig } from '../config/index.js';
import { throwIfAborted } from '../errors/index.js';
import { RemoteStore, type RemoteLocation } from '../remote/index.js';
import type { BackupSummary, ByteRange, Repository } from './repository.js';

/**
 * Backups in an S3-compatible bucket under a prefix. The S3 specifics (listing pages, multipart
 * uploads checked by ETag) stay in RemoteStore, which push and pull use directly for the transfers.
 */
export class S3Repository implements Repository {
  readonly location = 'remote';
  readonly parallelReads = 8;

  private constructor(readonly store: RemoteStore, private readonly signal: AbortSignal) {}

  static async open(storage: StorageConfig, location: RemoteLocation, signal: AbortSignal): Promise<S3Repository> {
    return new S3Repository(await RemoteStore.open(storage, location), signal);
  }

  get where(): string {
    return this.store.url;
  }

  pathOf(name: string): string {
    return this.store.urlOf(name);
  }

  catalog(): Promise<{ backups: BackupSummary[]; foreign: string[] }> {
    return this.store.catalog(this.signal);
  }

  readSidecar(name: string, suffix: string, range?: ByteRange): Promise<Buffer | undefined> {
    return this.store.read(name + suffix, range, this.signal);
  }

  readArchive(name: string, range?: ByteRange): Promise<Readable> {
    return this.store.stream(name, this.signal, range);
  }

  writeSidecar(name: string, suffix: string, text: string): Promise<void> {
    return this.store.putText(name + suffix, text, this.signal);
  }

  async remove(name: string): Promise<void> {
    const [checksum, ...others] = sidecarNames(name) as [string, ...string[]];
    for (const key of [checksum, name, ...others]) {
      throwIfAborted(this.signal);
      await this.store.remove(key, this.signal);
    }
  }

  async freeBytes(): Promise<undefined> {
    return undefined;
  }

  /**
   * None: S3 has no lock a crashed process would not leave behind, and every change here is one
   * object at a time, the .sha256 sidecar last on upload and first on removal.
   */
  async lock(): Promise<undefined> {
    return undefined;
  }

  async close(): Promise<void> {
    this.store.close();
  }
}
