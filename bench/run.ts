/**
 * npm run bench [-- --size s|m|l] [--runs N] [--shape photos|text]
 *
 * Measures, in one process tree on this machine, the shell pipeline Ferry replaces and the tools a
 * user would otherwise run, side by side with Ferry: wall seconds (min and median of N runs), MB/s of
 * source data, archive size and peak RSS (largest single process, from GNU time). Prints a table
 * and writes it as JSON under bench/results/.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startThrowawayPostgres } from '../src/demo/throwaway-postgres.js';
import { generate, SIZES, type Shape } from './generate.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? fallback) : fallback;
};
const sizeName = option('size', 's');
const runs = Number(option('runs', '3'));
// --steps REGEX measures only the matching rows (the default backup still runs once: later rows restore its archive).
const steps = option('steps', '');
const wanted = (name: string) => steps === '' || new RegExp(steps, 'i').test(name);
const shape = option('shape', 'photos') as Shape;
// The results file's name under bench/results/: a run of a few --steps should not overwrite the full table's.
const out = option('out', '');
if (shape !== 'photos' && shape !== 'text') throw new Error('--shape must be photos or text');
const size = SIZES[sizeName];
if (size === undefined) throw new Error(`--size must be one of ${Object.keys(SIZES).join(', ')}`);

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FERRY = join(ROOT, 'dist', 'cli', 'main.js');
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

interface Sample { seconds: number; peakKb: number | undefined }
interface Row { name: string; min: number; median: number; mbPerSecond: number; archiveBytes: number | undefined; peakRssMb: number | undefined }

function run(command: string, commandArgs: string[], env: NodeJS.ProcessEnv, okCodes: number[] = [0]): Promise<Sample> {
  return new Promise((resolveRun, reject) => {
    const full = TIME === undefined ? [command, ...commandArgs] : [TIME, '-f', 'FERRY_BENCH_RSS=%M', command, ...commandArgs];
    const started = process.hrtime.bigint();
    const child = spawn(full[0] as string, full.slice(1), { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-20_000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (!okCodes.includes(code ?? -1)) reject(new Error(`${command} ${commandArgs.join(' ')} exited ${code}: ${stderr.slice(-500)}`));
      const rss = /FERRY_BENCH_RSS=(\d+)/.exec(stderr)?.[1];
      resolveRun({ seconds, peakKb: rss === undefined ? undefined : Number(rss) });
    });
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function measure(name: string, sourceBytes: number, once: () => Promise<{ sample: Sample; archive?: string }>): Promise<Row | undefined> {
  if (!wanted(name)) {
    if (name.includes('default')) await once();
    return undefined;
  }
  const samples: Sample[] = [];
  let archiveBytes: number | undefined;
  for (let i = 0; i < runs; i++) {
    const { sample, archive } = await once();
    samples.push(sample);
    if (archive !== undefined) archiveBytes = statSync(archive).size;
  }
  const seconds = samples.map((s) => s.seconds);
  const peaks = samples.map((s) => s.peakKb).filter((p): p is number => p !== undefined);
  const row: Row = {
    name,
    min: Math.min(...seconds),
    median: median(seconds),
    mbPerSecond: sourceBytes / 1e6 / Math.min(...seconds),
    archiveBytes,
    peakRssMb: peaks.length === 0 ? undefined : Math.max(...peaks) / 1024,
  };
  process.stderr.write(`${name}: min ${row.min.toFixed(2)} s, median ${row.median.toFixed(2)} s\n`);
  return row;
}

const work = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
let unavailable: string | undefined;
const server = await startThrowawayPostgres({ password: 'bench' });
try {
  await server.createDatabase('legrimoire');
  const pgEnv = { ...process.env, PGPASSWORD: server.password };
  const conn = ['-h', '127.0.0.1', '-p', String(server.port), '-U', server.user];
  const uploads = join(work, 'uploads');
  process.stderr.write(`generating size ${sizeName} …\n`);
  const t0 = Date.now();
  await generate(size, [...conn, '-d', 'legrimoire'], pgEnv, uploads, 42, shape);
  const dbBytes = Number(execFileSync('psql', [...conn, '-d', 'legrimoire', '-Atc', 'SELECT pg_database_size(current_database())'], { env: pgEnv }).toString().trim());
  const uploadBytes = size.uploads * size.uploadBytes;
  const source = dbBytes + uploadBytes;
  process.stderr.write(`generated in ${((Date.now() - t0) / 1000).toFixed(0)} s: database ${(dbBytes / 1e6).toFixed(0)} MB, uploads ${(uploadBytes / 1e6).toFixed(0)} MB\n`);

  const scratch = join(work, 'scratch');
  const fresh = () => {
    rmSync(scratch, { recursive: true, force: true });
    mkdirSync(scratch);
    return scratch;
  };
  const ferryEnv = (extra: Record<string, string>) => ({ ...process.env, DATABASE_URL: server.url('legrimoire'), UPLOADS_DIR: uploads, FERRY_BACKUP_RETENTION_DAYS: '0', ...extra });
  const rows: Array<Row | undefined> = [];

  rows.push(await measure('pg_dump -Fc (the floor)', dbBytes, async () => {
    const dir = fresh();
    const sample = await run('pg_dump', [...conn, '-Fc', '-f', join(dir, 'd.backup'), 'legrimoire'], pgEnv);
    return { sample, archive: join(dir, 'd.backup') };
  }));
  rows.push(await measure('pg_dump -Fc --compress=1 (what ferry backup runs)', dbBytes, async () => {
    const dir = fresh();
    const sample = await run('pg_dump', [...conn, '-Fc', '--compress=1', '-f', join(dir, 'd.backup'), 'legrimoire'], pgEnv);
    return { sample, archive: join(dir, 'd.backup') };
  }));
  rows.push(await measure('scripts: pg_dump -Fc + pg_dump + tar czf', source, async () => {
    const dir = fresh();
    const started = process.hrtime.bigint();
    const a = await run('pg_dump', [...conn, '-Fc', '-f', join(dir, 'database.backup'), 'legrimoire'], pgEnv);
    const b = await run('pg_dump', [...conn, '-f', join(dir, 'database.sql'), 'legrimoire'], pgEnv);
    const c = await run('tar', ['czf', join(dir, 'backup.tar.gz'), '-C', dir, 'database.backup', 'database.sql', '-C', work, 'uploads'], pgEnv);
    const peaks = [a, b, c].map((s) => s.peakKb ?? 0);
    return { sample: { seconds: Number(process.hrtime.bigint() - started) / 1e9, peakKb: Math.max(...peaks) }, archive: join(dir, 'backup.tar.gz') };
  }));
  let ferryArchive = '';
  for (const level of ['1', '6']) {
    rows.push(await measure(`ferry backup (gzip ${level}${level === '1' ? ', default' : ''})`, source, async () => {
      const dir = fresh();
      const sample = await run(process.execPath, [FERRY, 'backup', '-q'], ferryEnv({ BACKUP_DIRECTORY: dir, FERRY_BACKUP_COMPRESSION_LEVEL: level }));
      const name = readdirSync(dir).find((n) => n.endsWith('.tar.gz'));
      if (level === '1' && name !== undefined) {
        ferryArchive = join(work, name);
        copyFileSync(join(dir, name), ferryArchive);
        copyFileSync(join(dir, `${name}.manifest.json`), `${ferryArchive}.manifest.json`);
      }
      return { sample, archive: name === undefined ? undefined : join(dir, name) };
    }));
  }
  // zstd at its default level, the dump left uncompressed for the archive (what backup.compression: zstd does).
  let zstdArchive = '';
  rows.push(await measure('ferry backup (zstd 3)', source, async () => {
    const dir = fresh();
    const sample = await run(process.execPath, [FERRY, 'backup', '-q'], ferryEnv({ BACKUP_DIRECTORY: dir, FERRY_BACKUP_COMPRESSION: 'zstd' }));
    const name = readdirSync(dir).find((n) => /^backup_\d{8}_\d{6}\.tar\.zst$/.test(n));
    if (name !== undefined) {
      zstdArchive = join(work, name);
      copyFileSync(join(dir, name), zstdArchive);
      copyFileSync(join(dir, `${name}.manifest.json`), `${zstdArchive}.manifest.json`);
    }
    return { sample, archive: name === undefined ? undefined : join(dir, name) };
  }));
  const dump = join(work, 'floor.backup');
  execFileSync('pg_dump', [...conn, '-Fc', '-f', dump, 'legrimoire'], { env: pgEnv });
  let n = 0;
  const target = async () => {
    const name = `restore_${n++}`;
    await server.createDatabase(name);
    return name;
  };
  // A restored database is dropped once measured: autovacuum analysing it would otherwise take CPU
  // from the steps measured after it.
  const dropped = async <T>(name: string, measured: Promise<T>): Promise<T> => {
    const result = await measured;
    for (const db of [name, `${name}__ferry_prev`, `${name}__ferry_pristine`]) execFileSync('psql', [...conn, '-d', 'postgres', '-qc', `DROP DATABASE IF EXISTS ${db}`], { env: pgEnv });
    return result;
  };
  rows.push(await measure('pg_restore + copy uploads (the floor)', source, async () => {
    const dir = fresh();
    const db = await target();
    const started = process.hrtime.bigint();
    const a = await run('pg_restore', [...conn, '--no-owner', '--no-privileges', '--single-transaction', '-d', db, dump], pgEnv);
    const b = await run('cp', ['-a', uploads, join(dir, 'uploads')], pgEnv);
    const sample = { seconds: Number(process.hrtime.bigint() - started) / 1e9, peakKb: Math.max(a.peakKb ?? 0, b.peakKb ?? 0) };
    return dropped(db, Promise.resolve({ sample }));
  }));
  rows.push(await measure('pg_restore -j2', dbBytes, async () => {
    const db = await target();
    return dropped(db, run('pg_restore', [...conn, '--no-owner', '--no-privileges', '-j', '2', '-d', db, dump], pgEnv).then((sample) => ({ sample })));
  }));
  // The target exists and holds data, as a developer's does: the swap keeps it as <db>__ferry_prev.
  rows.push(await measure('ferry restore (swap, --jobs default)', source, async () => {
    const dir = fresh();
    const db = await target();
    return dropped(db, run(process.execPath, [FERRY, 'restore', ferryArchive, '--yes', '-q'], ferryEnv({ DATABASE_URL: server.url(db), UPLOADS_DIR: join(dir, 'uploads'), BACKUP_DIRECTORY: work })).then((sample) => ({ sample })));
  }));
  rows.push(await measure('ferry restore (swap, --jobs 1)', source, async () => {
    const dir = fresh();
    const db = await target();
    return dropped(db, run(process.execPath, [FERRY, 'restore', ferryArchive, '--yes', '-q', '--jobs', '1'], ferryEnv({ DATABASE_URL: server.url(db), UPLOADS_DIR: join(dir, 'uploads'), BACKUP_DIRECTORY: work })).then((sample) => ({ sample })));
  }));
  // ferry reset copies the pristine database (FILE_COPY) and swaps it in: it never reads the archive.
  const pristineConfig = join(work, 'pristine.yaml');
  writeFileSync(pristineConfig, 'restore:\n  keep_pristine: true\n');
  const resetDb = await target();
  const resetEnv = ferryEnv({ DATABASE_URL: server.url(resetDb), UPLOADS_DIR: join(fresh(), 'uploads'), BACKUP_DIRECTORY: work });
  rows.push(await measure('ferry restore, keeping a pristine copy', source, async () => ({
    sample: await run(process.execPath, [FERRY, '--config', pristineConfig, 'restore', ferryArchive, '--yes', '-q', '--only', 'postgres'], resetEnv),
  })));
  rows.push(await measure('ferry reset (PostgreSQL)', dbBytes, async () => ({
    sample: await run(process.execPath, [FERRY, '--config', pristineConfig, 'reset', '--yes', '-q', '--only', 'postgres'], resetEnv),
  })));
  const swapReport = JSON.parse(execFileSync(process.execPath, [FERRY, '--json', 'restore', ferryArchive, '--yes', '--only', 'postgres'], { env: resetEnv }).toString()) as { stores: Array<{ notes?: string[] }> };
  unavailable = swapReport.stores.flatMap((st) => st.notes ?? []).find((note) => /unavailable for/.test(note));
  process.stderr.write(`swap: ${unavailable ?? '?'}\n`);
  await dropped(resetDb, Promise.resolve());
  // Masking streams every row of the masked table through Ferry: recipes is most of the database.
  const maskConfig = join(work, 'mask.yaml');
  writeFileSync(maskConfig, 'mask:\n  postgres:\n    recipes:\n      title: text\n      description: text\n      instructions: text\n');
  rows.push(await measure('ferry restore, masked (recipes: title, description, instructions)', source, async () => {
    const dir = fresh();
    const db = await target();
    return dropped(db, run(process.execPath, [FERRY, '--config', maskConfig, 'restore', ferryArchive, '--yes', '-q'], ferryEnv({ DATABASE_URL: server.url(db), UPLOADS_DIR: join(dir, 'uploads'), BACKUP_DIRECTORY: work, FERRY_MASK_KEY: 'benchmark-mask-key-0123456789' })).then((sample) => ({ sample })));
  }));
  rows.push(await measure('ferry verify', statSync(ferryArchive).size, async () => ({ sample: await run(process.execPath, [FERRY, 'verify', ferryArchive, '-q'], ferryEnv({ BACKUP_DIRECTORY: work })) })));
  if (zstdArchive !== '') {
    rows.push(await measure('ferry restore (zstd archive, swap)', source, async () => {
      const dir = fresh();
      const db = await target();
      return dropped(db, run(process.execPath, [FERRY, 'restore', zstdArchive, '--yes', '-q'], ferryEnv({ DATABASE_URL: server.url(db), UPLOADS_DIR: join(dir, 'uploads'), BACKUP_DIRECTORY: work })).then((sample) => ({ sample })));
    }));
    rows.push(await measure('ferry verify (zstd archive)', statSync(zstdArchive).size, async () => ({ sample: await run(process.execPath, [FERRY, 'verify', zstdArchive, '-q'], ferryEnv({ BACKUP_DIRECTORY: work })) })));
  }

  // Day 2 with incremental uploads: 1 % of the uploads added, 0.1 % changed, 0.05 % deleted, some rows
  // changed; then the rest of a week, and restores from the chain.
  const recipesDir = join(uploads, 'recipes');
  const nextDay = (day: number) => {
    const files = readdirSync(recipesDir).sort();
    const count = (share: number) => Math.max(1, Math.round(files.length * share));
    for (let i = 0; i < count(0.01); i++) writeFileSync(join(recipesDir, `day${day}-${i}.jpg`), randomBytes(size.uploadBytes));
    for (let i = 0; i < count(0.001); i++) writeFileSync(join(recipesDir, files[(day * 7 + i) % files.length] as string), randomBytes(size.uploadBytes));
    for (let i = 0; i < count(0.0005); i++) rmSync(join(recipesDir, files[(day * 13 + i + 1) % files.length] as string), { force: true });
    execFileSync('psql', [...conn, '-d', 'legrimoire', '-qc', `UPDATE recipes SET title = title || ' (${day})' WHERE id IN (SELECT id FROM recipes ORDER BY id LIMIT ${Math.max(1, Math.round(size.recipes * 0.001))} OFFSET ${day})`], { env: pgEnv });
  };
  const incremental = { FERRY_UPLOADS_INCREMENTAL: 'true' };
  const chainDir = join(work, 'chain');
  mkdirSync(chainDir);
  await run(process.execPath, [FERRY, 'backup', '-q'], ferryEnv({ BACKUP_DIRECTORY: chainDir, ...incremental }));
  const archivesIn = (dir: string) => readdirSync(dir).filter((n) => /^backup_\d{8}_\d{6}\.tar\.(gz|zst)$/.test(n)).sort();
  const dayOne = archivesIn(chainDir)[0] as string;
  nextDay(2);
  let fullDay2Bytes = 0;
  rows.push(await measure('day 2: ferry backup, full (incremental off)', source, async () => {
    const dir = fresh();
    const sample = await run(process.execPath, [FERRY, 'backup', '-q'], ferryEnv({ BACKUP_DIRECTORY: dir }));
    const archive = join(dir, archivesIn(dir)[0] as string);
    fullDay2Bytes = statSync(archive).size;
    return { sample, archive };
  }));
  rows.push(await measure('day 2: ferry backup, delta (uploads.incremental; = bytes pushed)', source, async () => {
    const dir = fresh();
    for (const suffix of ['', '.sha256', '.manifest.json']) copyFileSync(join(chainDir, dayOne + suffix), join(dir, dayOne + suffix));
    const sample = await run(process.execPath, [FERRY, 'backup', '-q'], ferryEnv({ BACKUP_DIRECTORY: dir, ...incremental }));
    return { sample, archive: join(dir, archivesIn(dir).find((n) => n !== dayOne) as string) };
  }));
  await run(process.execPath, [FERRY, 'backup', '-q'], ferryEnv({ BACKUP_DIRECTORY: chainDir, ...incremental }));
  for (let day = 3; day <= 7; day++) {
    nextDay(day);
    await run(process.execPath, [FERRY, 'backup', '-q'], ferryEnv({ BACKUP_DIRECTORY: chainDir, ...incremental }));
  }
  const week = archivesIn(chainDir);
  const weekBytes = week.reduce((sum, name) => sum + statSync(join(chainDir, name)).size, 0);
  const lastDelta = join(chainDir, week[week.length - 1] as string);
  rows.push(await measure('ferry restore from a chain (full + 6 deltas)', source, async () => {
    const dir = fresh();
    const db = await target();
    return dropped(db, run(process.execPath, [FERRY, 'restore', lastDelta, '--yes', '-q'], ferryEnv({ DATABASE_URL: server.url(db), UPLOADS_DIR: join(dir, 'uploads'), BACKUP_DIRECTORY: chainDir })).then((sample) => ({ sample })));
  }));
  rows.push(await measure('ferry consolidate (full + 6 deltas into one full)', source, async () => {
    for (const name of archivesIn(chainDir).filter((n) => !week.includes(n))) for (const suffix of ['', '.sha256', '.manifest.json', '.verify.json']) rmSync(join(chainDir, name + suffix), { force: true });
    const sample = await run(process.execPath, [FERRY, 'consolidate', lastDelta, '-q'], ferryEnv({ BACKUP_DIRECTORY: chainDir }));
    return { sample, archive: join(chainDir, archivesIn(chainDir).find((n) => !week.includes(n)) as string) };
  }));
  if (archivesIn(chainDir).length === week.length) await run(process.execPath, [FERRY, 'consolidate', lastDelta, '-q'], ferryEnv({ BACKUP_DIRECTORY: chainDir }));
  const synthetic = join(chainDir, archivesIn(chainDir).find((n) => !week.includes(n)) as string);
  rows.push(await measure('ferry restore of the same day from one (synthetic) full', source, async () => {
    const dir = fresh();
    const db = await target();
    return dropped(db, run(process.execPath, [FERRY, 'restore', synthetic, '--yes', '-q'], ferryEnv({ DATABASE_URL: server.url(db), UPLOADS_DIR: join(dir, 'uploads'), BACKUP_DIRECTORY: chainDir })).then((sample) => ({ sample })));
  }));
  const weekLine = fullDay2Bytes === 0 ? `a week of daily archives: ${(weekBytes / 1e6).toFixed(1)} MB incremental (full + ${week.length - 1} deltas)`
    : `a week of daily archives: ${(weekBytes / 1e6).toFixed(1)} MB incremental (full + ${week.length - 1} deltas) against ${(7 * fullDay2Bytes / 1e6).toFixed(1)} MB for 7 fulls (${(weekBytes / fullDay2Bytes).toFixed(2)}× one full)`;
  process.stderr.write(`${weekLine}\n`);

  const many = join(work, 'many');
  mkdirSync(many);
  const base = readdirSync(work).find((name) => name.endsWith('.tar.gz')) as string;
  for (let i = 1; i <= 1000; i++) {
    const t = new Date(Date.now() - i * 3_600_000);
    const p = (v: number) => String(v).padStart(2, '0');
    const name = `backup_${t.getUTCFullYear()}${p(t.getUTCMonth() + 1)}${p(t.getUTCDate())}_${p(t.getUTCHours())}${p(t.getUTCMinutes())}${p(t.getUTCSeconds())}.tar.gz`;
    writeFileSync(join(many, name), 'x');
    copyFileSync(join(work, `${base}.manifest.json`), join(many, `${name}.manifest.json`));
    writeFileSync(join(many, `${name}.sha256`), `0  ${name}\n`);
  }
  // The stand-in archives are not real, so health reports CRITICAL: the time is what counts here.
  rows.push(await measure('ferry health (1,000 backups)', 0, async () => ({ sample: await run(process.execPath, [FERRY, 'health', '-q'], { ...process.env, BACKUP_DIRECTORY: many }, [0, 1, 2]) })));
  rows.push(await measure('ferry list (1,000 backups)', 0, async () => ({ sample: await run(process.execPath, [FERRY, 'list'], { ...process.env, BACKUP_DIRECTORY: many }) })));

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
  const header = `size ${sizeName}${shape === 'text' ? ' (compressible text)' : ''}: ${size.recipes} recipes, database ${(dbBytes / 1e6).toFixed(0)} MB, uploads ${(uploadBytes / 1e6).toFixed(0)} MB; ${runs} runs; ${machine}`;
  const table = [
    '| step | min s | median s | MB/s | archive MB | peak RSS MB |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.filter((r): r is Row => r !== undefined).map((r) => `| ${r.name} | ${r.min.toFixed(2)} | ${r.median.toFixed(2)} | ${r.mbPerSecond > 0 ? r.mbPerSecond.toFixed(0) : '-'} | ${r.archiveBytes === undefined ? '-' : (r.archiveBytes / 1e6).toFixed(1)} | ${r.peakRssMb === undefined ? '-' : r.peakRssMb.toFixed(0)} |`),
  ].join('\n');
  process.stdout.write(`${header}\n\n${table}\n\n${weekLine}\n`);
  const results = join(ROOT, 'bench', 'results');
  mkdirSync(results, { recursive: true });
  writeFileSync(join(results, `${out === '' ? `${sizeName}${shape === 'text' ? '-text' : ''}` : out.replace(/\.json$/, '')}.json`), JSON.stringify({ size: sizeName, shape, machine, runs, dbBytes, uploadBytes, at: new Date().toISOString(), swapUnavailable: unavailable, week: { incrementalBytes: weekBytes, archives: week.length, fullBytes: fullDay2Bytes }, rows: rows.filter((r) => r !== undefined) }, null, 2) + '\n');
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
