import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/archive/manifest.js';
import { loadConfig } from '../../src/config/index.js';
import { silentProgress } from '../../src/ops/context.js';
import { PostgresStore } from '../../src/stores/postgres/store.js';
import { backedUpDatabase } from '../support/backed-up.js';
import { loadPagila } from '../support/fixtures.js';
import { createDatabase, pgUrl, sequenceValues, tableDigests, uniqueName } from '../support/pg.js';

/** The dump's bytes in 40 pieces over about 3 s: an archive read from a slow mount. */
async function* slowly(file: string): AsyncGenerator<Buffer> {
  const bytes = readFileSync(file);
  const piece = Math.ceil(bytes.length / 40);
  for (let at = 0; at < bytes.length; at += piece) {
    await sleep(75);
    yield bytes.subarray(at, at + piece);
  }
}

describe('a PostgreSQL dump that is slow to stage', { timeout: 120_000 }, () => {
  it('loads its schema and rows as it arrives and its indexes with --jobs 2 once whole (Pagila, partitions included)', async () => {
    const db = await createDatabase(uniqueName('slow_src'));
    await loadPagila(db);
    const { work, archive, name, dir } = await backedUpDatabase('slow', '', db);
    const unpacked = join(work, 'unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', archive, '-C', unpacked, 'postgresql/database.backup']);
    const dump = join(unpacked, 'postgresql', 'database.backup');
    const manifest = parseManifest(readFileSync(join(dir, `${name}.manifest.json`), 'utf8'), name);

    const target = uniqueName('slow_dev');
    const loaded = await loadConfig({ env: { DATABASE_URL: pgUrl(target) }, cwd: work });
    const store = new PostgresStore(loaded.config.postgres!, 1);
    const said: string[] = [];
    const log = { info: (m: string) => said.push(m), warn: (m: string) => said.push(m), debug: (m: string) => said.push(m) };
    const tempDir = join(work, 'staging');
    mkdirSync(tempDir);
    const ctx = { signal: new AbortController().signal, log, progress: silentProgress, redactor: loaded.redactor, tempDir };
    const staging = await store.prepareRestore(manifest.stores.postgres!, { jobs: 2 }, ctx);
    try {
      const header = { path: 'postgresql/database.backup', type: 'file' as const, size: statSync(dump).size, mode: 0o600, mtime: new Date() };
      await staging.accept(header, 'database.backup', Readable.from(slowly(dump)));
      await staging.validate?.();
      await staging.apply();
    } finally {
      await staging.discard();
    }
    expect(said).toContain('the dump is still being staged after 2 s: its schema and rows load as it arrives, its indexes and constraints with --jobs 2 once it is whole');
    expect(await tableDigests(target)).toEqual(await tableDigests(db));
    expect(await sequenceValues(target)).toEqual(await sequenceValues(db));
  });
});
