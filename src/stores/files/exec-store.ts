import { hostname } from 'node:os';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import type { ArchiveEntryHeader, ArchiveSink, StoreManifest } from '../../archive/index.js';
import type { UploadsConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import { containerFailure, containerOf, CONTAINER_PATH_PATTERN, type Container } from '../../process/container.js';
import { lastLine, type ToolResult } from '../../process/index.js';
import { formatBytes } from '../../util/format.js';
import type { KeptCopy, PreflightReport, RestoreOptions, RestoreStaging, RestoreTarget, StagedDump, Store, StoreContext } from '../store.js';
import { COUNT_SCRIPT, EXISTS_SCRIPT, LINK_COPY_SCRIPT, LIST_SCRIPT, OWN_SCRIPT, PREPARE_SCRIPT, REMOVE_SCRIPT, REPLACE_SCRIPT, SWAP_SCRIPT } from './container-scripts.js';
import { ContainerFolderArchiver } from './container-archive.js';
import { ownerAlive, parseWorkName, workPath, type FolderLayout } from './layout.js';
import { UPLOADS_PREFIX } from './store.js';

function reason(result: ToolResult): string {
  return lastLine(result.stderr) || `exit ${String(result.exitCode ?? result.signal)}`;
}

interface FolderFacts {
  fingerprint: string;
  counts: { files: number; directories: number; symlinks: number };
}

/**
 * uploads.exec: the uploads folder lives in a container (a named volume Ferry cannot read from the
 * host). Backups stream `docker cp <container>:<folder> -` (a tar, read entry by entry); restores
 * stream a tar with `docker cp - <container>:<staging folder>` into a folder inside the uploads
 * folder (so inside the same volume) and then swap the entries with a script run by docker exec,
 * keeping the replaced ones in .ferry-prev for ferry restore --undo and, with keep_pristine, a
 * hard-linked copy in .ferry-pristine for ferry reset, as the local store does for a mount point.
 */
export class ExecFilesStore implements Store {
  readonly kind = 'uploads' as const;
  readonly archivePrefix = UPLOADS_PREFIX;
  private readonly container: Container;
  private readonly path: string;

  constructor(config: UploadsConfig & { exec: string }) {
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
    ctx.progress.start(`archiving ${this.describe()}`);
    const { counts, bytes, warnings } = await new ContainerFolderArchiver(this.container, this.path).archive(sink, ctx);
    ctx.progress.done(`${counts.files} files, ${formatBytes(bytes)}`);
    return { kind: this.kind, source: this.describe(), fingerprint: facts.fingerprint, counts, bytes, durationSeconds: (Date.now() - started) / 1000, warnings };
  }

  targetHosts(): string[] {
    return [];
  }

  async inspectTarget(_manifest: StoreManifest, options: RestoreOptions, ctx: StoreContext): Promise<RestoreTarget> {
    const facts = await this.folderFacts(ctx.signal);
    const where = this.describe();
    if (facts === undefined) return { describe: where, fingerprint: undefined, currentCounts: undefined, notes: ['the folder does not exist yet: it is created'] };
    const notes = [`the new entries are copied in with docker cp (into ${this.path}/.ferry-restore-…) and swapped in one by one; the current ones are kept in ${this.previous()}`];
    if (options.keepPristine === true) notes.push(`a pristine copy is kept at ${this.pristine()} (hard links) for ferry reset`);
    const dead = await this.deadLeftovers(ctx.signal);
    if (dead.length > 0) notes.push(`left by a killed restore, removed first: ${dead.join(', ')}`);
    for (const swap of await this.deadLeftovers(ctx.signal, ['swap'])) {
      notes.push(`warning: ${swap} holds entries a swap killed half-way moved out of ${this.path}; Ferry leaves it: move them back by hand (docker exec … mv), or they stay there`);
    }
    return { describe: where, fingerprint: facts.fingerprint, currentCounts: facts.counts, notes };
  }

  async prepareRestore(manifest: StoreManifest, options: RestoreOptions, ctx: StoreContext): Promise<RestoreStaging> {
    await this.removeDeadLeftovers(ctx.signal);
    const staging = this.workPath('restore');
    const pack = tarPack();
    let started: Promise<{ uid: number; gid: number }> | undefined;
    let copying: Promise<ToolResult> | undefined;
    let pristine: string | undefined;
    let finished = false;
    let swapped = false;
    const start = () => {
      started ??= (async () => {
        const owner = (await this.inContainer(['sh', '-c', PREPARE_SCRIPT, 'sh', this.path, staging], `create ${staging}`, ctx.signal)).stdout.trim();
        copying = this.container.copyIn(staging, { signal: ctx.signal, stdin: Readable.from(pack, { objectMode: false }) });
        // A docker cp that stopped early no longer reads: the entry being written fails instead of waiting for ever.
        copying.then((result) => {
          if (!finished) pack.destroy(this.copyInFailed(staging, result, 'stopped before the archive\'s uploads were all written'));
        }, (error: unknown) => pack.destroy(error as Error));
        const [uid, gid] = owner.split(':').map(Number);
        return { uid: uid ?? 0, gid: gid ?? 0 };
      })();
      return started;
    };
    const finish = async () => {
      if (finished) return;
      await start();
      finished = true;
      pack.finalize();
      const result = await (copying as Promise<ToolResult>);
      if (result.exitCode !== 0) throw this.copyInFailed(staging, result, 'failed');
      await this.inContainer(['sh', '-c', OWN_SCRIPT, 'sh', this.path, staging], `give ${staging} the owner of ${this.path}`, ctx.signal);
    };
    return {
      accept: async (header: ArchiveEntryHeader, relativePath: string, data: Readable) => {
        const owner = await start();
        const rel = relativePath.replace(/\/$/, '');
        if (rel.split('/').includes('..')) throw new FerryError('ARCHIVE_CORRUPT', `uploads entry ${relativePath} leads out of the folder`, { hint: 'The archive is damaged or was not written by Ferry; nothing was restored.' });
        // The folder itself is not an entry: docker skips "." and the mount point keeps its own mode.
        if (rel === '') {
          data.resume();
          return;
        }
        const base = { name: rel, mode: header.mode & 0o7777, mtime: header.mtime, ...owner };
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
        const began = Date.now();
        await finish();
        if (options.keepPristine === true) {
          pristine = this.workPath('pristine');
          await this.inContainer(['sh', '-c', LINK_COPY_SCRIPT, 'sh', staging, pristine], 'keep a pristine copy', ctx.signal);
        }
        await this.swap(staging, ctx.signal);
        swapped = true;
        const notes = [`copied into ${this.container.label} with docker cp and swapped in; the replaced entries are kept in ${this.previous()} for ferry restore --undo`];
        if (pristine !== undefined) notes.push(await this.keepPristine(pristine, ctx.signal));
        pristine = undefined;
        const actual = (await this.folderFacts(ctx.signal))?.counts ?? { files: 0, directories: 0, symlinks: 0 };
        return {
          target: this.describe(),
          counts: (['files', 'directories', 'symlinks'] as const).map((object) => ({ object, expected: manifest.counts[object] ?? -1, actual: actual[object] })),
          durationSeconds: (Date.now() - began) / 1000,
          notes,
        };
      },
      discard: async () => {
        if (!finished) pack.destroy();
        await copying?.catch(() => undefined);
        const leftovers = [...(swapped || started === undefined ? [] : [staging]), ...(pristine === undefined ? [] : [pristine])];
        if (leftovers.length > 0) await this.container.run(['sh', '-c', REMOVE_SCRIPT, 'sh', ...leftovers], { signal: new AbortController().signal }).catch(() => undefined);
      },
    };
  }

  private copyInFailed(staging: string, result: ToolResult, what: string): FerryError {
    return new FerryError('UPLOADS_TARGET_UNWRITABLE', `docker cp into ${staging} in ${this.container.label} ${what}: ${reason(result)}`, {
      hint: 'Check that the container is running and the free space in the uploads volume. The uploads were left as they were.',
    });
  }

  /** Past the swap the restore has happened: a pristine copy that cannot be kept is said, not thrown. */
  private async keepPristine(incoming: string, signal: AbortSignal): Promise<string> {
    const result = await this.container.run(['sh', '-c', REPLACE_SCRIPT, 'sh', incoming, this.pristine()], { signal });
    if (result.exitCode === 0) return `pristine copy kept at ${this.pristine()} for ferry reset`;
    await this.container.run(['sh', '-c', REMOVE_SCRIPT, 'sh', incoming], { signal }).catch(() => undefined);
    return `the pristine copy could not be kept at ${this.pristine()} (${reason(result)}); ferry reset has nothing to bring back`;
  }

  async keptCopies(_options: RestoreOptions, ctx: StoreContext): Promise<KeptCopy[]> {
    const copies: KeptCopy[] = [];
    for (const [role, path] of this.kept()) {
      if (await this.exists(path, ctx.signal)) copies.push({ role, describe: `${path} in ${this.container.label}` });
    }
    return copies;
  }

  /** Swaps the previous copy back in; what it replaces becomes the previous copy, so undo again redoes. */
  async undo(_options: RestoreOptions, ctx: StoreContext): Promise<string> {
    await this.removeDeadLeftovers(ctx.signal);
    if (!(await this.exists(this.previous(), ctx.signal))) {
      throw new FerryError('NOTHING_TO_UNDO', `no previous copy of ${this.describe()}: ${this.previous()} does not exist`, {
        hint: 'Only a restore keeps a previous copy, and ferry restore --drop-previous removes it; restore from an archive instead (ferry list).',
      });
    }
    await this.swap(this.previous(), ctx.signal);
    return `${this.describe()}: the previous copy is back; what it replaced is now the previous copy (undo again to redo)`;
  }

  /** Swaps in a hard-linked copy of the pristine folder; the pristine copy stays for the next reset. */
  async reset(_options: RestoreOptions, ctx: StoreContext): Promise<string> {
    await this.removeDeadLeftovers(ctx.signal);
    if (!(await this.exists(this.pristine(), ctx.signal))) {
      throw new FerryError('NOTHING_TO_RESET', `no pristine copy of ${this.describe()}: ${this.pristine()} does not exist`, {
        hint: 'Set restore.keep_pristine: true and restore once; that restore keeps the copy ferry reset brings back.',
      });
    }
    const clone = this.workPath('clone');
    await this.inContainer(['sh', '-c', LINK_COPY_SCRIPT, 'sh', this.pristine(), clone], 'copy the pristine copy', ctx.signal);
    try {
      await this.swap(clone, ctx.signal);
    } catch (error) {
      await this.container.run(['sh', '-c', REMOVE_SCRIPT, 'sh', clone], { signal: new AbortController().signal }).catch(() => undefined);
      throw error;
    }
    return `${this.describe()}: back to the pristine copy of the last restore; what it replaced is now the previous copy`;
  }

  async dropKept(roles: Array<KeptCopy['role']>, _options: RestoreOptions, ctx: StoreContext): Promise<string[]> {
    const dropped: string[] = [];
    for (const [role, path] of this.kept()) {
      if (!roles.includes(role) || !(await this.exists(path, ctx.signal))) continue;
      await this.inContainer(['sh', '-c', REMOVE_SCRIPT, 'sh', path], `remove ${path}`, ctx.signal);
      dropped.push(`${path} in ${this.container.label}`);
    }
    return dropped;
  }

  private kept(): Array<[KeptCopy['role'], string]> {
    return [['previous', this.previous()], ['pristine', this.pristine()]];
  }

  private previous(): string {
    return posix.join(this.path, '.ferry-prev');
  }

  private pristine(): string {
    return posix.join(this.path, '.ferry-pristine');
  }

  /**
   * A work folder inside the uploads folder, named as the local store names them in a mount point
   * (its owner's pid and start time), so backups skip it and a later run can tell a dead one.
   */
  private workPath(purpose: 'restore' | 'swap' | 'pristine' | 'clone'): string {
    return workPath(this.layout(), purpose);
  }

  private layout(): FolderLayout {
    return { target: this.path, mountPoint: true, previous: this.previous(), pristine: this.pristine(), workParent: this.path, workPrefix: '.ferry-' };
  }

  /**
   * Copies left half-built by a Ferry that was killed (it is no longer running on this machine):
   * never swapped in, so they are removed. A killed swap's folder is left for a person to look at,
   * and the plan says so (`purposes: ['swap']`).
   */
  private async deadLeftovers(signal: AbortSignal, purposes: readonly string[] = ['restore', 'pristine', 'clone']): Promise<string[]> {
    const listed = await this.container.run(['sh', '-c', LIST_SCRIPT, 'sh', this.path], { signal });
    return listed.stdout.split('\n').filter((name) => {
      const parsed = parseWorkName(this.layout(), name);
      return parsed !== undefined && purposes.includes(parsed.purpose) && !ownerAlive(parsed);
    }).map((name) => posix.join(this.path, name));
  }

  private async removeDeadLeftovers(signal: AbortSignal): Promise<void> {
    const dead = await this.deadLeftovers(signal);
    if (dead.length > 0) await this.inContainer(['sh', '-c', REMOVE_SCRIPT, 'sh', ...dead], 'remove what a killed restore left', signal);
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
    const [dev, ino, files, directories, symlinks] = output.split(/\s+/).slice(0, 5).map(Number);
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
