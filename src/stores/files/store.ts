import { open, readlink, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { DELETIONS_ENTRY, type ArchiveSink, type ManifestEntry, type StoreManifest } from '../../archive/index.js';
import type { UploadsConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import { formatBytes, plural } from '../../util/format.js';
import type { ChainBase, ChainList, KeptCopy, PreflightReport, RestoreOptions, RestoreStaging, RestoreTarget, StagedDump, Store, StoreContext } from '../store.js';
import { dropFolderCopies, keptFolderCopies, resetFolder, undoFolder } from './kept.js';
import { OWN_ENTRY } from './layout.js';
import { folderFingerprint, inspectFolder, prepareFolderRestore } from './restore.js';
import { fullReason, planDelta, scanFolder, type DeltaPlan, type ScannedEntry } from './delta.js';
import { countTree, modifiedAt, walk, type WalkedEntry } from './walk.js';

interface ArchiveRun {
  sink: ArchiveSink;
  ctx: StoreContext;
  warnings: string[];
  counts: { files: number; directories: number; symlinks: number };
  /** Bytes of every file in the folder, and of those written into this archive. */
  bytes: number;
  written: number;
}

/** Ferry's own folders at the top of a mounted uploads folder are not uploads. */
const notOwn = (name: string) => OWN_ENTRY.test(name);

export const UPLOADS_PREFIX = 'uploads/';

/** The uploads folder: files, folders and symbolic links with their modes and times. */
export class FilesStore implements Store {
  readonly kind = 'uploads' as const;
  readonly archivePrefix = UPLOADS_PREFIX;

  constructor(private readonly config: Pick<UploadsConfig, 'strict'> & Partial<Pick<UploadsConfig, 'incremental' | 'full_every'>> & { path: string }) {}

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
    let chainList: ChainList | undefined;
    return {
      write: async (sink) => {
        const written = await this.archive(sink, ctx);
        chainList = written.chainList;
        return written.manifest;
      },
      chainList: () => chainList,
    };
  }

  private async archive(sink: ArchiveSink, ctx: StoreContext): Promise<{ manifest: StoreManifest; chainList?: ChainList }> {
    const started = Date.now();
    const rootStats = await this.assertFolder();
    const run: ArchiveRun = { sink, ctx, warnings: [], counts: { files: 0, directories: 0, symlinks: 0 }, bytes: 0, written: 0 };
    const delta = await this.planDelta(ctx);
    ctx.progress.start(`archiving ${this.describe()}${delta === undefined ? '' : ` (changes since ${delta.base.name})`}`);
    await sink.addDirectory(UPLOADS_PREFIX, { mode: rootStats.mode & 0o7777, mtime: modifiedAt(rootStats) });
    const list = delta === undefined ? undefined : await this.writeDelta(run, delta);
    if (delta === undefined) {
      for await (const entry of walk(this.config.path, '', notOwn)) {
        if (ctx.signal.aborted) break;
        await this.writeEntry(run, entry);
      }
    }
    ctx.progress.done(`${plural(run.counts.files, 'file')}, ${formatBytes(run.bytes)}${delta === undefined ? '' : `, ${formatBytes(run.written)} of it changed and written`}`);
    const chain: StoreManifest['chain'] = this.config.incremental !== true ? undefined
      : delta === undefined ? { kind: 'full', position: 0, writtenBytes: run.written }
      : { kind: 'delta', position: delta.base.position + 1, base: { name: delta.base.name, manifestSha256: delta.base.manifestSha256 }, writtenBytes: run.written };
    const manifest: StoreManifest = {
      kind: this.kind,
      source: this.describe(),
      fingerprint: folderFingerprint(rootStats),
      counts: run.counts,
      bytes: run.bytes,
      durationSeconds: (Date.now() - started) / 1000,
      warnings: run.warnings,
      ...(chain === undefined ? {} : { chain }),
    };
    return list === undefined ? { manifest } : { manifest, chainList: list };
  }

  /** With uploads.incremental and a base: what changed since it, unless a full is due. */
  private async planDelta(ctx: StoreContext): Promise<{ base: ChainBase; scanned: ScannedEntry[]; plan: DeltaPlan } | undefined> {
    const base = ctx.base;
    if (this.config.incremental !== true || base === undefined) return undefined;
    const scanned = await scanFolder(this.config.path, notOwn);
    const plan = planDelta(scanned, new Map(base.entries.map((entry) => [entry.path, entry])), UPLOADS_PREFIX);
    const reason = fullReason(plan, base.position, this.config.full_every ?? 7);
    if (reason !== undefined) {
      ctx.log.info(`uploads: a full set this time, ${reason}`);
      return undefined;
    }
    ctx.log.info(`uploads: a delta on ${base.name}: ${plural(plan.changed.size, 'file')} new or changed (${formatBytes(plan.changedBytes)}), ${plural(plan.deleted.length, 'path')} gone`);
    return { base, scanned, plan };
  }

  /**
   * Every folder and link (they cost a header each, and make the delta extract whole over its base),
   * the changed files, and the deletions; unchanged files only join the complete list, from the base's.
   */
  private async writeDelta(run: ArchiveRun, delta: { base: ChainBase; scanned: ScannedEntry[]; plan: DeltaPlan }): Promise<ChainList> {
    const before = new Map(delta.base.entries.map((entry) => [entry.path, entry]));
    const files: ManifestEntry[] = [];
    for (const entry of delta.scanned) {
      if (run.ctx.signal.aborted) break;
      if (entry.stats.isFile() && !delta.plan.changed.has(entry.relative)) {
        files.push(before.get(UPLOADS_PREFIX + entry.relative) as ManifestEntry);
        run.counts.files++;
        run.bytes += entry.stats.size;
        continue;
      }
      const written = await this.writeEntry(run, entry);
      if (written !== undefined) files.push(written);
    }
    const deleted = delta.plan.deleted;
    await run.sink.addBuffer(DELETIONS_ENTRY, Buffer.from(deleted.map((path) => `${path}\0`).join('')), { mode: 0o600 });
    return { files, deleted };
  }

  /** One folder, link or file into the archive; undefined for what was skipped with a warning. */
  private async writeEntry(run: ArchiveRun, entry: WalkedEntry): Promise<ManifestEntry | undefined> {
    const { sink, ctx, warnings, counts } = run;
    const name = UPLOADS_PREFIX + entry.relative;
    const attributes = { mode: entry.stats.mode & 0o7777, mtime: modifiedAt(entry.stats) };
    if (entry.stats.isDirectory()) {
      counts.directories++;
      return sink.addDirectory(name, attributes);
    }
    if (entry.stats.isSymbolicLink()) {
      counts.symlinks++;
      return sink.addSymlink(name, await readlink(entry.absolute), attributes);
    }
    if (entry.stats.isFile()) {
      let handle;
      try {
        handle = await open(entry.absolute, 'r');
      } catch (cause) {
        const message = `cannot read ${entry.absolute}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`;
        if (this.config.strict) throw new FerryError('UPLOADS_UNREADABLE', message, { hint: 'Fix the file permissions, or unset uploads.strict to back up the rest with a warning.', cause });
        warnings.push(message);
        ctx.log.warn(message);
        return undefined;
      }
      let written: ManifestEntry;
      try {
        const size = entry.stats.size;
        const data = size === 0 ? Readable.from([]) : handle.createReadStream({ start: 0, end: size - 1, autoClose: false, highWaterMark: 256 * 1024 });
        written = await sink.addStream(name, data, size, attributes);
      } finally {
        await handle.close();
      }
      counts.files++;
      run.bytes += entry.stats.size;
      run.written += entry.stats.size;
      ctx.progress.update(run.written);
      return written;
    }
    const message = `skipped ${entry.absolute}: not a regular file, folder or symbolic link`;
    warnings.push(message);
    ctx.log.warn(message);
    return undefined;
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
