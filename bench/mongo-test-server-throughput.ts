/**
 * Documents per second of `ferry backup` and `ferry restore` against the in-process MongoDB test
 * server (not a real mongod: the server's own cost is small and unlike a real one's).
 * Run: npx tsx bench/mongo-test-server-throughput.ts [documents]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { MongoTestServer } from '../test/support/mongo/server.js';

const documents = Number(process.argv[2] ?? 200_000);
const server = new MongoTestServer();
const url = await server.start();
const client = new MongoClient(url);
const batch = Array.from({ length: 10_000 }, (_, i) => ({ title: `Recette ${i}`, servings: i % 8, steps: ['mélanger', 'cuire', 'servir'], ingredients: [{ name: 'farine', qty: 200 }, { name: 'sel', qty: 2 }], notes: 'x'.repeat(300) }));
for (let n = 0; n < documents; n += batch.length) await client.db('bench').collection('recipes').insertMany(batch.map((d) => ({ ...d })));
const work = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
const bin = new URL('../dist/cli/main.js', import.meta.url).pathname;
const run = (args: string[], db: string) => new Promise<number>((resolveRun, reject) => {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, MONGODB_URL: url, MONGODB_DB_NAME: db, BACKUP_DIRECTORY: work }, stdio: 'ignore' });
  child.on('close', (code) => (code === 0 ? resolveRun(Number(process.hrtime.bigint() - started) / 1e9) : reject(new Error(`exit ${code}`))));
});
const backup = await run(['backup', '-q'], 'bench');
const restore = await run(['restore', 'latest', '--yes', '-q'], 'bench_copy');
const size = execFileSync('du', ['-b', work]).toString().split('\t')[0];
console.log(`${documents} documents, archive ${size} bytes`);
console.log(`ferry backup:  ${backup.toFixed(2)} s, ${Math.round(documents / backup)} documents/s (test server)`);
console.log(`ferry restore: ${restore.toFixed(2)} s, ${Math.round(documents / restore)} documents/s (test server)`);
await client.close();
await server.stop();
rmSync(work, { recursive: true, force: true });
