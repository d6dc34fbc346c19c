import { open, readlink, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ArchiveEntryHeader, ArchiveSink, StoreManifest } from '../../archive/index.js';
import type { UploadsConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import { formatBytes } from '../../util/format.js';
import type { PreflightReport, RestoreOptions, RestoreStaging, RestoreTarget, StagedDump, Store, StoreContext } from '../store.js';
import { FolderStaging } from './staging.js';
import { countTree, walk } from './walk.js';

export const UPLOADS_PREFIX = 'uploads/';

/** The uploads folder: files, folders and symbolic links with their modes and times. */
export class FilesStore implements Store {
  readonly kind = 'uploads' as const;
  readonly archivePrefix = UPLOADS_PREFIX;

  constructor(private readonly config: UploadsConfig) {}

  describe(): string {
    return `uploads ${this.config.path}`;
  }

  async preflight(_ctx: StoreContext): Promise<PreflightReport> {
    await this.assertFolder();
    const counts = await countTree(this.config.path);
    return { summary: `${this.describe()}: ${counts.files} files, ${formatBytes(counts.bytes)}`, estimatedBytes: counts.bytes };
  }

  /** Nothing to stage: the files are read straight from the folder while they are archived. */
  async stage(ctx: StoreContext): Promise<StagedDump> {
    return { write: (sink) => this.archive(sink, ctx) };
  }

  private async archive(sink: ArchiveSink, ctx: StoreContext): Promise<StoreManifest> {
    const started = Date.now();
    const rootStats = await this.assertFolder();
    const warnings: string[] = [];
    const counts = { files: 0, directories: 0, symlinks: 0 };
    let bytes = 0;
    ctx.progress.start(`archiving ${this.describe()}`);
    await sink.addDirectory(UPLOADS_PREFIX, { mode: rootStats.mode & 0o7777, mtime: rootStats.mtime });
    for await (const entry of walk(this.config.path)) {
      if (ctx.signal.aborted) break;
      const name = UPLOADS_PREFIX + entry.relative;
      const attributes = { mode: entry.stats.mode & 0o7777, mtime: entry.stats.mtime };
      if (entry.stats.isDirectory()) {
        await sink.addDirectory(name, attributes);
        counts.directories++;
      } else if (entry.stats.isSymbolicLink()) {
        await sink.addSymlink(name, await readlink(entry.absolute), attributes);
        counts.symlinks++;
      } else if (entry.stats.isFile()) {
        let handle;
        try {
          handle = await open(entry.absolute, 'r');
        } catch (cause) {
          const message = `cannot read ${entry.absolute}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`;
          if (this.config.strict) throw new FerryError('UPLOADS_UNREADABLE', message, { hint: 'Fix the file permissions, or unset uploads.strict to back up the rest with a warning.', cause });
          warnings.push(message);
          ctx.log.warn(message);
          continue;
        }
        try {
          const size = entry.stats.size;
          const data = size === 0 ? Readable.from([]) : handle.createReadStream({ start: 0, end: size - 1, autoClose: false, highWaterMark: 256 * 1024 });
          await sink.addStream(name, data, size, attributes);
        } finally {
          await handle.close();
        }
        counts.files++;
        bytes += entry.stats.size;
        ctx.progress.update(bytes);
      } else {
        const message = `skipped ${entry.absolute}: not a regular file, folder or symbolic link`;
        warnings.push(message);
        ctx.log.warn(message);
      }
    }
    ctx.progress.done(`${counts.files} files, ${formatBytes(bytes)}`);
    return {
      kind: this.kind,
      source: this.describe(),
      counts,
      bytes,
      durationSeconds: (Date.now() - started) / 1000,
      warnings,
    };
  }

  targetHosts(): string[] {
    return [];
  }

  async inspectTarget(_manifest: StoreManifest, _options: RestoreOptions, _ctx: StoreContext): Promise<RestoreTarget> {
    const exists = await stat(this.config.path).then((s) => s.isDirectory(), () => false);
    if (!exists) return { describe: this.config.path, fingerprint: undefined, currentCounts: undefined };
    const counts = await countTree(this.config.path);
    return {
      describe: this.config.path,
      fingerprint: undefined,
      currentCounts: { files: counts.files, directories: counts.directories, symlinks: counts.symlinks },
    };
  }

  async prepareRestore(manifest: StoreManifest, _options: RestoreOptions, ctx: StoreContext): Promise<RestoreStaging> {
    const staging = await FolderStaging.create(this.config.path);
    return {
      accept: (header: ArchiveEntryHeader, relativePath: string, data: Readable) => staging.accept(header, relativePath, data),
      apply: async () => {
        const started = Date.now();
        await staging.finish();
        await staging.swapIn(ctx.log);
        const actual = await countTree(this.config.path);
        const expected = manifest.counts;
        return {
          target: this.config.path,
          counts: (['files', 'directories', 'symlinks'] as const).map((object) => ({ object, expected: expected[object] ?? -1, actual: actual[object] })),
          durationSeconds: (Date.now() - started) / 1000,
        };
      },
      discard: () => staging.discard(),
    };
  }

  private async assertFolder() {
    const stats = await stat(this.config.path).catch(() => undefined);
    if (stats === undefined || !stats.isDirectory()) {
      throw new FerryError('UPLOADS_MISSING', `uploads folder ${this.config.path} does not exist or is not a folder`, {
        hint: 'Set UPLOADS_DIR (or uploads.path) to the folder that holds the uploaded files, or remove the uploads section.',
      });
    }
    return stats;
  }
}
