import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { posix } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract, pack as tarPack, type Header as TarHeaders } from 'tar-stream';
import type { ArchiveEntryHeader, ArchiveSink, StoreManifest } from '../../archive/index.js';
import type { UploadsConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import { containerFailure, containerOf, CONTAINER_PATH_PATTERN, type Container } from '../../process/container.js';
import { lastLine, type ToolResult } from '../../process/index.js';
import { formatBytes } from '../../util/format.js';
import type { KeptCopy, PreflightReport, RestoreOptions, RestoreStaging, RestoreTarget, StagedDump, Store, StoreContext } from '../store.js';
import { COUNT_SCRIPT, EXISTS_SCRIPT, EXTRACT_SCRIPT, REMOVE_SCRIPT, SWAP_SCRIPT } from './container-scripts.js';
import { OWN_ENTRY } from './layout.js';
import { UPLOADS_PREFIX } from './store.js';

/** tar's last line is "Exiting with failure status due to previous errors": the reason is the line before. */
function tarReason(result: ToolResult): string {
  return lastLine(result.stderr.split('\n').filter((line) => !/Exiting with failure status/.test(line)).join('\n')) || `exit ${String(result.exitCode)}`;
}

interface FolderFacts {
  fingerprint: string;
  counts: { files: number; directories: number; symlinks: number };
}

/**
 * uploads.exec: the uploads folder lives in a container (a named volume Ferry cannot read from the
 * host). Backups stream `tar -c` out of `docker exec`; restores stream a tar into a staging folder
 * inside the folder (so inside the same volume) and then swap the entries, keeping the replaced
 * ones in .ferry-prev for ferry restore --undo, as the local store does for a mount point.
 */
export class ExecFilesStore implements Store {
  readonly kind = 'uploads' as const;
  readonly archivePrefix = UPLOADS_PREFIX;
  private readonly container: Container;
  private readonly path: string;

  constructor(private readonly config: UploadsConfig & { exec: string }) {
    const m = CONTAINER_PATH_PATTERN.exec(config.exec);
    if (m === null) {
      throw new FerryError('CONFIG_INVALID', `uploads.exec: ${config.exec} is not docker://<container>:/path or compose://<service>:/path`, {
        hint: 'Name the container and the folder inside it, e.g. docker://le-grimoire-backend-prod:/app/uploads.',
      });
    }
    this.container = containerOf(m[1] as string, m[2] as string, 'uploads.exec');
    this.path = posix.normalize(m[3] as string).replace(/(.)\/$/, '$1');
  }

  describe(): string {
    return `uploads ${this.path} in ${this.container.label}`;
  }

  async preflight(ctx: StoreContext): Promise<PreflightReport> {
    const facts = await this.requireFolder(ctx.signal);
    return { summary: `${this.describe()}: ${facts.counts.files} files` };
  }

  async stage(ctx: StoreContext): Promise<StagedDump> {
    return { write: (sink) => this.archive(sink, ctx) };
  }

  private async archive(sink: ArchiveSink, ctx: StoreContext): Promise<StoreManifest> {
    const started = Date.now();
    const facts = await this.requireFolder(ctx.signal);
    const counts = { files: 0, directories: 0, symlinks: 0 };
    const warnings: string[] = [];
    let bytes = 0;
    ctx.progress.start(`archiving ${this.describe()}`);
    const extract = tarExtract();
    const running = this.container.run(['tar', '-c', '-f', '-', '-C', this.path, '.'], { signal: ctx.signal, stdout: extract as unknown as Writable });
    running.catch(() => undefined);
    try {
      for await (const entry of extract) {
        bytes += await this.archiveEntry(entry.header, entry as unknown as Readable, sink, counts, warnings, ctx);
        ctx.progress.update(bytes);
      }
    } catch (error) {
      extract.destroy();
      await running.catch(() => undefined);
      throw error;
    }
    const result = await running;
    if (result.exitCode !== 0) {
      // GNU tar: 1 = a file changed while it was read, 2 = some could not be read; both still archive the rest.
      const message = `tar in ${this.container.label} reported: ${tarReason(result)}`;
      if (this.config.strict || counts.files + counts.directories === 0) {
        throw new FerryError('UPLOADS_UNREADABLE', message, { hint: 'Fix the files tar names inside the container, or unset uploads.strict to back up the rest with a warning.' });
      }
      warnings.push(message);
      ctx.log.warn(message);
    }
    ctx.progress.done(`${counts.files} files, ${formatBytes(bytes)}`);
    return { kind: this.kind, source: this.describe(), fingerprint: facts.fingerprint, counts, bytes, durationSeconds: (Date.now() - started) / 1000, warnings };
  }

  /** One tar entry from the container into the archive; returns the file bytes it added. */
  private async archiveEntry(header: TarHeaders, data: Readable, sink: ArchiveSink, counts: FolderFacts['counts'], warnings: string[], ctx: StoreContext): Promise<number> {
    const rel = header.name.replace(/^\.\/?/, '').replace(/\/$/, '');
    const attributes = { mode: (header.mode ?? 0o644) & 0o7777, mtime: header.mtime ?? new Date(0) };
    if (OWN_ENTRY.test(rel.split('/')[0] ?? '')) {
      data.resume();
      return 0;
    }
    const name = UPLOADS_PREFIX + rel;
    if (header.type === 'directory') {
      data.resume();
      await sink.addDirectory(rel === '' ? UPLOADS_PREFIX : name, attributes);
      if (rel !== '') counts.directories++;
      return 0;
    }
    if (header.type === 'symlink') {
      data.resume();
      await sink.addSymlink(name, header.linkname ?? '', attributes);
      counts.symlinks++;
      return 0;
    }
    if (header.type === 'file' || header.type === 'contiguous-file') {
      await sink.addStream(name, data, header.size ?? 0, attributes);
      counts.files++;
      return header.size ?? 0;
    }
    data.resume();
    const message = `skipped ${this.path}/${rel} in ${this.container.label}: ${header.type === 'link' ? 'a hard link to another file' : 'not a regular file, folder or symbolic link'}`;
    warnings.push(message);
    ctx.log.warn(message);
    return 0;
  }

  targetHosts(): string[] {
    return [];
  }

  async inspectTarget(_manifest: StoreManifest, options: RestoreOptions, ctx: StoreContext): Promise<RestoreTarget> {
    const facts = await this.folderFacts(ctx.signal);
    const where = this.describe();
    if (facts === undefined) return { describe: where, fingerprint: undefined, currentCounts: undefined, notes: ['the folder does not exist yet: it is created'] };
    const notes = [`the new entries are built inside it (${this.path}/.ferry-restore-…) and swapped in one by one; the current ones are kept in ${this.path}/.ferry-prev`];
    if (options.keepPristine === true) notes.push('restore.keep_pristine: no pristine copy is kept through uploads.exec (ferry reset has nothing to bring back for the uploads)');
    return { describe: where, fingerprint: facts.fingerprint, currentCounts: facts.counts, notes };
  }

  async prepareRestore(manifest: StoreManifest, _options: RestoreOptions, ctx: StoreContext): Promise<RestoreStaging> {
    const staging = this.workPath('restore');
    const pack = tarPack();
    let extracting: Promise<ToolResult> | undefined;
    let finished = false;
    let swapped = false;
    const start = () => {
      if (extracting !== undefined) return;
      extracting = this.container.run(['sh', '-c', EXTRACT_SCRIPT, 'sh', this.path, staging], { signal: ctx.signal, stdin: Readable.from(pack, { objectMode: false }) });
      // A tar that stopped early no longer reads: the entry being written fails instead of waiting for ever.
      extracting.then((result) => {
        if (!finished) pack.destroy(new FerryError('UPLOADS_TARGET_UNWRITABLE', `tar stopped in ${this.container.label} before the archive's uploads were all written: ${tarReason(result)}`, { hint: 'Check free space in the uploads volume and that the container has tar. The uploads were left as they were.' }));
      }, (error: unknown) => pack.destroy(error as Error));
    };
    const finish = async () => {
      if (finished) return;
      finished = true;
      start();
      pack.finalize();
      const result = await (extracting as Promise<ToolResult>);
      if (result.exitCode !== 0) {
        throw new FerryError('UPLOADS_TARGET_UNWRITABLE', `cannot build the restored uploads in ${staging} in ${this.container.label}: ${tarReason(result)}`, {
          hint: 'Check free space in the uploads volume and that the container\'s user may write there. The uploads were left as they were.',
        });
      }
    };
    return {
      accept: async (header: ArchiveEntryHeader, relativePath: string, data: Readable) => {
        start();
        const rel = relativePath.replace(/\/$/, '');
        if (rel.split('/').includes('..')) throw new FerryError('ARCHIVE_CORRUPT', `uploads entry ${relativePath} leads out of the folder`, { hint: 'The archive is damaged or was not written by Ferry; nothing was restored.' });
        const base = { name: rel === '' ? '.' : rel, mode: header.mode & 0o7777, mtime: header.mtime };
        if (header.type === 'file') {
          await pipeline(data, pack.entry({ ...base, type: 'file', size: header.size }));
          return;
        }
        data.resume();
        if (header.type === 'directory') pack.entry({ ...base, type: 'directory' });
        else if (header.type === 'symlink') pack.entry({ ...base, type: 'symlink', linkname: header.linkTarget ?? '' });
      },
      validate: finish,
      apply: async () => {
        const started = Date.now();
        await finish();
        await this.swap(staging, ctx.signal);
        swapped = true;
        const actual = (await this.folderFacts(ctx.signal))?.counts ?? { files: 0, directories: 0, symlinks: 0 };
        return {
          target: this.describe(),
          counts: (['files', 'directories', 'symlinks'] as const).map((object) => ({ object, expected: manifest.counts[object] ?? -1, actual: actual[object] })),
          durationSeconds: (Date.now() - started) / 1000,
          notes: [`built in ${this.container.label} and swapped in; the replaced entries are kept in ${this.previous()} for ferry restore --undo`],
        };
      },
      discard: async () => {
        if (!finished) pack.destroy();
        await extracting?.catch(() => undefined);
        if (!swapped && extracting !== undefined) await this.container.run(['sh', '-c', REMOVE_SCRIPT, 'sh', staging], { signal: new AbortController().signal }).catch(() => undefined);
      },
    };
  }

  async keptCopies(_options: RestoreOptions, ctx: StoreContext): Promise<KeptCopy[]> {
    return (await this.exists(this.previous(), ctx.signal)) ? [{ role: 'previous', describe: `${this.previous()} in ${this.container.label}` }] : [];
  }

  /** Swaps the previous copy back in; what it replaces becomes the previous copy, so undo again redoes. */
  async undo(_options: RestoreOptions, ctx: StoreContext): Promise<string> {
    if (!(await this.exists(this.previous(), ctx.signal))) {
      throw new FerryError('NOTHING_TO_UNDO', `no previous copy of ${this.describe()}: ${this.previous()} does not exist`, {
        hint: 'Only a restore keeps a previous copy, and ferry restore --drop-previous removes it; restore from an archive instead (ferry list).',
      });
    }
    await this.swap(this.previous(), ctx.signal);
    return `${this.describe()}: the previous copy is back; what it replaced is now the previous copy (undo again to redo)`;
  }

  reset(): Promise<string> {
    return Promise.reject(new FerryError('NOTHING_TO_RESET', `no pristine copy of ${this.describe()}: uploads.exec keeps none`, {
      hint: 'Restore from the archive again (ferry restore), or set uploads.path to the volume\'s folder on this machine to use restore.keep_pristine.',
    }));
  }

  async dropKept(roles: Array<KeptCopy['role']>, _options: RestoreOptions, ctx: StoreContext): Promise<string[]> {
    if (!roles.includes('previous') || !(await this.exists(this.previous(), ctx.signal))) return [];
    await this.inContainer(['sh', '-c', REMOVE_SCRIPT, 'sh', this.previous()], 'remove the previous copy', ctx.signal);
    return [`${this.previous()} in ${this.container.label}`];
  }

  private previous(): string {
    return posix.join(this.path, '.ferry-prev');
  }

  /** A work folder inside the uploads folder, named like the local store's so backups skip it. */
  private workPath(purpose: 'restore' | 'swap'): string {
    return posix.join(this.path, `.ferry-${purpose}-${process.pid}-${randomBytes(4).toString('hex')}`);
  }

  private async swap(incoming: string, signal: AbortSignal): Promise<void> {
    const result = await this.container.run(['sh', '-c', SWAP_SCRIPT, 'sh', this.path, incoming, this.workPath('swap'), this.previous()], { signal });
    if (result.exitCode !== 0) {
      throw new FerryError('UPLOADS_SWAP_FAILED', `cannot swap the restored uploads into ${this.path} in ${this.container.label}: ${lastLine(result.stderr) || `exit ${String(result.exitCode)}`}`, {
        hint: 'The entries were put back where they were; check the volume inside the container, then restore again.',
      });
    }
  }

  private async exists(path: string, signal: AbortSignal): Promise<boolean> {
    const result = await this.container.run(['sh', '-c', EXISTS_SCRIPT, 'sh', path], { signal });
    if (result.exitCode !== 0 && result.stderr !== '') throw containerFailure(this.container, `look for ${path}`, result);
    return result.exitCode === 0;
  }

  private async inContainer(args: string[], what: string, signal: AbortSignal): Promise<ToolResult> {
    const result = await this.container.run(args, { signal });
    if (result.exitCode !== 0) throw containerFailure(this.container, what, result);
    return result;
  }

  /** The folder's identity and counts, or undefined when it does not exist. */
  private async folderFacts(signal: AbortSignal): Promise<FolderFacts | undefined> {
    const output = (await this.inContainer(['sh', '-c', COUNT_SCRIPT, 'sh', this.path], `count ${this.path}`, signal)).stdout.trim();
    if (output === 'missing') return undefined;
    const [dev, ino, files, directories, symlinks] = output.split(/\s+/).map(Number);
    // The same form as the local store's: a volume's folder is the same inode seen from the host or the container.
    return { fingerprint: `uploads host ${hostname()} device ${String(dev)} inode ${String(ino)}`, counts: { files: files ?? 0, directories: directories ?? 0, symlinks: symlinks ?? 0 } };
  }

  private async requireFolder(signal: AbortSignal): Promise<FolderFacts> {
    const facts = await this.folderFacts(signal);
    if (facts === undefined) {
      throw new FerryError('UPLOADS_MISSING', `uploads folder ${this.path} does not exist in ${this.container.label}`, {
        hint: 'Check the path in uploads.exec (Le Grimoire: docker://le-grimoire-backend-prod:/app/uploads).',
      });
    }
    return facts;
  }
}
