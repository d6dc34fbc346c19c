/**
 * npm run bench:serve [-- --backups 1000] [--runs 10]
 *
 * How long ferry serve takes to build its pages over a backup directory of many backups, measured
 * on the server (the handler in this process: no network, no browser), and what each page weighs.
 * The backups are fabricated as `ferry list` sees them: a small archive file with its .sha256,
 * .manifest.json (three stores, 25 entries) and .verify.json sidecars, one a day back from now.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { archiveNameFor } from '../src/archive/naming.js';
import { openContext } from '../src/ops/open.js';
import { dashboardApp } from '../src/serve/server.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1] ?? fallback) : fallback;
};
const count = option('backups', 1000);
const runs = option('runs', 10);

const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-serve-'));
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const now = Date.now();
const tables = Array.from({ length: 20 }, (_, i) => `public.table_${i}`);
let newest = '';
for (let i = 0; i < count; i++) {
  const time = new Date(now - i * 86_400_000 - 3_600_000);
  const name = archiveNameFor(time);
  if (i === 0) newest = name;
  const archive = gzipSync(Buffer.from(`fabricated archive ${i} `.repeat(200 + (i % 50))));
  writeFileSync(join(dir, name), archive);
  writeFileSync(join(dir, `${name}.sha256`), `${createHash('sha256').update(archive).digest('hex')}  ${name}\n`);
  const grow = count - i;
  const manifest = {
    format: 'ferry-archive', formatVersion: 1, tool: { name: 'ferry', version: '0.1.0' }, createdAt: time.toISOString(), host: 'bench', durationSeconds: 40 + (i % 7),
    stores: {
      postgres: { kind: 'postgres', source: 'postgres app@db:5432/app', serverVersion: '15.18', toolVersion: '15.18', counts: Object.fromEntries(tables.map((t, n) => [t, 1000 * (n + 1) + grow])), bytes: 50_000_000 + grow * 1000, durationSeconds: 30, warnings: [] },
      mongo: { kind: 'mongo', source: 'mongo app@mongo:27017/app', serverVersion: '7.0.14', toolVersion: 'driver 7.9.0', counts: { recipes: 5000 + grow, ingredients: 800, users: 300 + grow, sessions: 90, logs: 70_000 }, bytes: 20_000_000, durationSeconds: 8, warnings: [] },
      uploads: { kind: 'uploads', source: 'uploads /srv/uploads', counts: { files: 12_000 + grow, directories: 40, symlinks: 0 }, bytes: 900_000_000, durationSeconds: 2, warnings: [] },
    },
    compression: { codec: 'gzip', level: 6 },
    entries: Array.from({ length: 25 }, (_, n) => ({ path: `postgresql/part-${n}`, type: 'file', size: 1000 * n, sha256: sha(`${i}-${n}`) })),
  };
  writeFileSync(join(dir, `${name}.manifest.json`), JSON.stringify(manifest, null, 2));
  writeFileSync(join(dir, `${name}.verify.json`), JSON.stringify({ checkedAt: time.toISOString(), ok: true, durationSeconds: 3, findings: [] }, null, 2));
}

process.env.BACKUP_DIRECTORY = dir;
const { ctx } = await openContext({});
const pages = ['/', '/backups', '/backups?page=20', `/backups/${newest}`, '/trends', '/api/list', '/api/health?quick=1', '/api/trends', '/metrics', '/assets/dashboard.js', '/assets/dashboard.css', '/assets/uPlot.min.js', '/assets/uPlot.min.css'];
// Module code warmed once, so that "cold" means a server that has not yet read this directory.
await dashboardApp(ctx, { auth: { kind: 'none' }, allowActions: false }).request('/healthz', { headers: { host: '127.0.0.1' } });

console.log(`ferry serve over ${count} backups (${dir}), ${runs} runs each, node ${process.version}, load average ${loadavg()[0]?.toFixed(1)} on ${cpus().length} cores`);
console.log('cold: the first request to a new server; warm: the next ones (its caches filled)');
console.log('page                                  cold ms  warm min  warm median     bytes  gzip bytes');
for (const page of pages) {
  const app = dashboardApp(ctx, { auth: { kind: 'none' }, allowActions: false });
  const times: number[] = [];
  let body = Buffer.alloc(0);
  for (let run = 0; run <= runs; run++) {
    const started = performance.now();
    const response = await app.request(page, { headers: { host: '127.0.0.1', 'accept-encoding': 'identity' } });
    body = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200) throw new Error(`${page}: HTTP ${response.status}: ${body.toString('utf8').slice(0, 300)}`);
    times.push(performance.now() - started);
  }
  const cold = times.shift() ?? 0;
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] ?? 0;
  const shown = page.length > 36 ? `${page.slice(0, 33)}...` : page;
  console.log(`${shown.padEnd(37)} ${cold.toFixed(1).padStart(8)} ${(times[0] ?? 0).toFixed(1).padStart(9)} ${median.toFixed(1).padStart(12)} ${String(body.length).padStart(9)} ${String(gzipSync(body).length).padStart(11)}`);
}
if (process.env.KEEP !== '1') rmSync(dir, { recursive: true, force: true });
