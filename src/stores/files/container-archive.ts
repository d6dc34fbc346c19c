import { posix } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { extract as tarExtract, type Header as TarHeaders } from 'tar-stream';
import type { ArchiveSink } from '../../archive/index.js';
import { FerryError } from '../../errors/index.js';
import type { Container } from '../../process/container.js';
import { lastLine, type ToolResult } from '../../process/index.js';
import type { StoreContext } from '../store.js';
import { OWN_ENTRY } from './layout.js';
import { UPLOADS_PREFIX } from './store.js';

type Counts = { files: number; directories: number; symlinks: number };

/**
 * Archives a folder of a container (uploads.exec) from `docker cp <container>:<folder> -`: a tar
 * stream read entry by entry, each file checksummed into the archive as it passes. No program of
 * the container's reads the files, and nothing is staged on this machine.
 */
export class ContainerFolderArchiver {
  constructor(private readonly container: Container, private readonly path: string) {}

  async archive(sink: ArchiveSink, ctx: StoreContext): Promise<{ counts: Counts; bytes: number; warnings: string[] }> {
    const counts: Counts = { files: 0, directories: 0, symlinks: 0 };
    const warnings: string[] = [];
    let bytes = 0;
    await this.readCopy(this.path, ctx.signal, async (header, data) => {
      bytes += await this.archiveEntry(header, data, sink, counts, warnings, ctx);
      ctx.progress.update(bytes);
    });
    return { counts, bytes, warnings };
  }

  private copyOutFailed(path: string, result: ToolResult): FerryError {
    return new FerryError('CONTAINER_UNREACHABLE', `cannot copy ${path} out of ${this.container.label} (docker cp): ${lastLine(result.stderr) || `exit ${String(result.exitCode ?? result.signal)}`}`, {
      hint: `Check that the container is running (docker ps) and is the one uploads.exec should name, then back up again. No archive was written.`,
    });
  }

  /** docker cp names every entry under the folder's own name: uploads/… for /app/uploads. */
  private relativeName(name: string): string {
    const top = posix.basename(this.path);
    const trimmed = name.replace(/^\.\//, '').replace(/\/$/, '');
    if (trimmed === top) return '';
    if (trimmed.startsWith(`${top}/`)) return trimmed.slice(top.length + 1);
    throw new FerryError('UPLOADS_UNREADABLE', `docker cp of ${this.path} in ${this.container.label} gave an entry outside ${top}/: ${name}`, {
      hint: 'This docker does not stream folders as docker cp documents; please report it with the output of docker version.',
    });
  }

  /** One tar entry from the container into the archive; returns the file bytes it added. */
  private async archiveEntry(header: TarHeaders, data: Readable, sink: ArchiveSink, counts: Counts, warnings: string[], ctx: StoreContext): Promise<number> {
    const rel = this.relativeName(header.name);
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
    // tar writes a second name of a file as a link to the first, which may be one Ferry skips
    // (.ferry-pristine shares its files with the folder): each name is archived as a file, as the local store does.
    if (header.type === 'link') return this.archiveLinked(rel, sink, counts, ctx);
    const message = `skipped ${this.path}/${rel} in ${this.container.label}: not a regular file, folder or symbolic link`;
    warnings.push(message);
    ctx.log.warn(message);
    return 0;
  }

  /**
   * A second name of a file (or of a symbolic link: `cp -al` links those too) fetched on its own with
   * another docker cp: a single entry comes as itself, never as a link.
   */
  private async archiveLinked(rel: string, sink: ArchiveSink, counts: Counts, ctx: StoreContext): Promise<number> {
    let size: number | undefined;
    await this.readCopy(posix.join(this.path, rel), ctx.signal, async (header, data) => {
      const attributes = { mode: (header.mode ?? 0o644) & 0o7777, mtime: header.mtime ?? new Date(0) };
      if (size !== undefined || (header.type !== 'file' && header.type !== 'symlink')) {
        data.resume();
        return;
      }
      if (header.type === 'symlink') {
        data.resume();
        size = 0;
        await sink.addSymlink(UPLOADS_PREFIX + rel, header.linkname ?? '', attributes);
        counts.symlinks++;
        return;
      }
      size = header.size ?? 0;
      await sink.addStream(UPLOADS_PREFIX + rel, data, size, attributes);
      counts.files++;
    });
    return size ?? 0;
  }

  /**
   * Reads `docker cp <container>:<path> -` entry by entry. The tar parser is fed through a
   * PassThrough so that a stream cut short (the container stopped) still lets docker's exit status
   * and message through, which then name the failure instead of the parser's "unexpected end".
   */
  private async readCopy(path: string, signal: AbortSignal, onEntry: (header: TarHeaders, data: Readable) => Promise<void>): Promise<void> {
    const carrier = new PassThrough();
    const extract = tarExtract();
    carrier.pipe(extract as unknown as Writable);
    const copying = this.container.copyOut(path, { signal, stdout: carrier });
    copying.catch(() => undefined);
    try {
      for await (const entry of extract) await onEntry(entry.header, entry as unknown as Readable);
    } catch (error) {
      carrier.unpipe();
      carrier.destroy();
      extract.destroy();
      const result = await copying.catch(() => undefined);
      if (result !== undefined && result.exitCode !== 0) throw this.copyOutFailed(path, result);
      throw error;
    }
    const result = await copying;
    if (result.exitCode !== 0) throw this.copyOutFailed(path, result);
  }
}
