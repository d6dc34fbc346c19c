import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { ArchiveEntryHeader, Manifest } from '../archive/index.js';
import { CopyRowCounter, PLAIN_SQL_ENTRY } from '../stores/postgres/index.js';
import type { VerifyFinding } from './verify.js';

const UPLOADS_PREFIX = 'uploads/';

/**
 * What restore refuses or counts, checked by verify before any restore commits: every entry's path
 * (no absolute path, no `..`, nothing written through a link the archive made, no hard link or
 * special file), and the counts the manifest records against the data (COPY rows of the plain dump,
 * upload entries by type; BSON documents are counted by their content check).
 */
export class EntryAudit {
  readonly findings: VerifyFinding[] = [];
  private readonly links = new Set<string>();
  private readonly uploads = { files: 0, directories: 0, symlinks: 0 };
  private copyRows: CopyRowCounter | undefined;

  /** Looks at an entry's header; returns a stream to pass its data through when its content is counted. */
  see(header: ArchiveEntryHeader): CopyRowCounter | undefined {
    const path = header.path;
    const trimmed = path.replace(/\/+$/, '');
    if (posix.isAbsolute(path)) this.flag(path, `entry ${path} has an absolute path`);
    else if (trimmed.split('/').includes('..')) this.flag(path, `entry ${path} has a .. component: it would be written outside its folder`);
    for (let parent = posix.dirname(trimmed); parent !== '.' && parent !== '/'; parent = posix.dirname(parent)) {
      if (this.links.has(parent)) {
        this.flag(path, `entry ${path} would be written through the symbolic link ${parent} the archive made earlier`);
        break;
      }
    }
    if (header.hardLink === true) this.flag(path, `entry ${path} is a hard link to ${header.linkTarget ?? '?'}: Ferry writes none and restores none`);
    else if (header.type === 'other') this.flag(path, `entry ${path} is a special file (device, FIFO or unknown type): Ferry writes none and restores none`);
    if (header.type === 'symlink') this.links.add(trimmed);
    if (path.startsWith(UPLOADS_PREFIX) && trimmed !== 'uploads') {
      if (header.type === 'file') this.uploads.files++;
      else if (header.type === 'directory') this.uploads.directories++;
      else if (header.type === 'symlink') this.uploads.symlinks++;
    }
    if (path === PLAIN_SQL_ENTRY && header.type === 'file') {
      this.copyRows = new CopyRowCounter();
      return this.copyRows;
    }
    return undefined;
  }

  /** Once the manifest is known: what the data holds against what it records. */
  compare(manifest: Manifest): VerifyFinding[] {
    const findings: VerifyFinding[] = [];
    const uploads = manifest.stores.uploads;
    if (uploads !== undefined) {
      // A delta holds only the changed files (each checked against the entry list); its complete
      // list is what must add up to the folder's count.
      const delta = uploads.chain?.kind === 'delta';
      const listed = (manifest.chainFiles ?? []).filter((entry) => entry.type === 'file').length;
      if (delta && listed !== uploads.counts.files) findings.push({ entry: UPLOADS_PREFIX, problem: `the delta's file list holds ${listed} files, the manifest says ${uploads.counts.files ?? 0}` });
      for (const [kind, found] of Object.entries(this.uploads)) {
        if (delta && kind === 'files') continue;
        const expected = uploads.counts[kind];
        if (expected !== undefined && expected !== found) findings.push({ entry: UPLOADS_PREFIX, problem: `uploads/ holds ${found} ${kind}, the manifest says ${expected}` });
      }
    }
    const postgres = manifest.stores.postgres;
    if (postgres !== undefined && this.copyRows !== undefined) {
      const counted = this.copyRows.counts;
      for (const [table, expected] of Object.entries(postgres.counts)) {
        const found = counted[table] ?? 0;
        if (found !== expected) findings.push({ entry: PLAIN_SQL_ENTRY, problem: `${PLAIN_SQL_ENTRY}: table ${table} holds ${found} rows, the manifest says ${expected}` });
      }
      for (const table of Object.keys(counted)) {
        if (postgres.counts[table] === undefined) findings.push({ entry: PLAIN_SQL_ENTRY, problem: `${PLAIN_SQL_ENTRY}: table ${table} (${counted[table]} rows) is not in the manifest` });
      }
    }
    return findings;
  }

  private flag(entry: string, problem: string): void {
    this.findings.push({ entry, problem });
  }
}

/** Reads an entry through the counter to its end. */
export async function countThrough(data: Readable, counter: CopyRowCounter): Promise<void> {
  const counting = data.pipe(counter);
  data.once('error', (error) => counter.destroy(error));
  counting.resume();
  await new Promise<void>((resolveEnd, rejectEnd) => {
    counting.once('end', resolveEnd);
    counting.once('error', rejectEnd);
  });
}
