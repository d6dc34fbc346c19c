import { open, readlink, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ArchiveSink, StoreManifest } from '../../archive/index.js';
import type { UploadsConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import { formatBytes, plural } from '../../util/format.js';
import type { KeptCopy, PreflightReport, RestoreOptions, RestoreStaging, RestoreTarget, StagedDump, Store, StoreContext } from '../store.js';
import { dropFolderCopies, keptFolderCopies, resetFolder, undoFolder } from './kept.js';
import { OWN_ENTRY } from './layout.js';
import { folderFingerprint, inspectFolder, prepareFolderRestore } from './restore.js';
import { countTree, walk } from './walk.js';

/** Ferry's own folders at the top of a mounted uploads folder are not uploads. */
const notOwn = (name: string) => OWN_ENTRY.test(name);

export const UPLOADS_PREFIX = 'uploads/';

/** The uploads folder: files, folders and symbolic links with their modes and times. */
export class FilesStore implements Store {
  readonly kind = 'uploads' as const;
  readonly archivePrefix = UPLOADS_PREFIX;

  constructor(private readonly config: UploadsConfig & { path: string }) {}

  describe(): string {
    return `uploads ${this.config.path}`;
  }

  async preflight(_ctx: StoreContext): Promise<PreflightReport> {
    await this.assertFolder();
    const counts = await countTree(this.config.path, notOwn);
    return { summary: `${this.describe()}: ${plural(counts.files, 'file')}, ${formatBytes(counts.bytes)}`, estimatedBytes: counts.bytes };
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
    for await (const entry of walk(this.config.path, '', notOwn)) {
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
    ctx.progress.done(`${plural(counts.files, 'file')}, ${formatBytes(bytes)}`);
    return {
      kind: this.kind,
      source: this.describe(),
      fingerprint: folderFingerprint(rootStats),
      counts,
      bytes,
      durationSeconds: (Date.now() - started) / 1000,
      warnings,
    };
  }

  targetHosts(): string[] {
    return [];
  }

  inspectTarget(_manifest: StoreManifest, options: RestoreOptions, _ctx: StoreContext): Promise<RestoreTarget> {
    return inspectFolder(this.config.path, options);
  }

  prepareRestore(manifest: StoreManifest, options: RestoreOptions, _ctx: StoreContext): Promise<RestoreStaging> {
    return prepareFolderRestore(this.config.path, manifest, options);
  }

  keptCopies(_options: RestoreOptions, _ctx: StoreContext): Promise<KeptCopy[]> {
    return keptFolderCopies(this.config.path);
  }

  undo(_options: RestoreOptions, _ctx: StoreContext): Promise<string> {
    return undoFolder(this.config.path);
  }

  reset(_options: RestoreOptions, _ctx: StoreContext): Promise<string> {
    return resetFolder(this.config.path);
  }

  dropKept(roles: Array<KeptCopy['role']>, _options: RestoreOptions, _ctx: StoreContext): Promise<string[]> {
    return dropFolderCopies(this.config.path, roles);
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
