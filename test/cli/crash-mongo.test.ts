import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Int32 } from 'bson';
import type { Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry, startFerry } from '../support/cli.js';
import { crashSeed, seededRandom } from '../support/crash.js';
import { mongoEnv, startMongoTarget, type MongoTarget } from '../support/mongo-target.js';
import { tempDir } from '../support/tmp.js';

/**
 * SIGKILL of ferry backup and ferry restore with MongoDB (the test server, or TEST_MONGODB_URL) at
 * seeded moments. Fewer kills than the PostgreSQL suites: each one is a whole run on a slow machine.
 */
const KILLS = 6;
let mongo: MongoTarget;

beforeAll(async () => {
  mongo = await startMongoTarget();
});
afterAll(async () => {
  await mongo.stop();
});

async function fill(db: Db): Promise<void> {
  for (const name of ['recipes', 'comments', 'users']) {
    for (let batch = 0; batch < 2; batch++) {
      await db.collection<{ _id: Int32 }>(name).insertMany(Array.from({ length: 2500 }, (_, i) => ({ _id: new Int32(batch * 2500 + i), name: `${name} ${batch * 2500 + i}`, body: 'x'.repeat(200) })));
    }
  }
}

/**
 * Every collection but those Ferry keeps beside it, with a hash of its documents' bytes. Empty ones
 * are left out: undo leaves a collection the restore created empty rather than dropping it.
 */
async function contentOf(db: Db): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  // Sorted, so that two states compare equal however renames reordered the listing.
  const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort();
  for (const name of names) {
    if (name.includes('__ferry_')) continue;
    const hash = createHash('sha256');
    const docs = (await db.collection(name).find({}, { raw: true }).toArray()) as unknown as Buffer[];
    for (const doc of docs.map((d) => Buffer.from(d)).sort(Buffer.compare)) hash.update(doc);
    if (docs.length > 0) out[name] = `${docs.length}:${hash.digest('hex').slice(0, 16)}`;
  }
  return out;
}

const keptNames = async (db: Db) => (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).filter((n) => n.includes('__ferry_')).sort();
const archives = async (dir: string) => (await readdir(dir)).filter((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n)).sort();
const leftoversIn = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.partial') || n.startsWith('.ferry-tmp-') || (n.endsWith('.tmp') && !n.includes('.verify.json.')));

describe('SIGKILL of ferry with MongoDB', { timeout: 420_000 }, () => {
  it(`backup, ${KILLS} seeded moments: no unverifiable archive under a final name, no older backup lost, the next run cleans up`, async () => {
    const source = mongo.database('crash_src');
    const client = await mongo.client();
    await fill(client.db(source));
    const dir = join(await tempDir(), 'backups');
    const env = mongoEnv(mongo, source, dir, { BACKUP_RETENTION_DAYS: '36500' });
    const started = Date.now();
    const first = await ferry(['backup'], env);
    expect(first.code, first.stderr).toBe(0);
    const fullRun = Date.now() - started;

    const seed = crashSeed('mongodb backup crash points');
    const random = seededRandom(seed);
    const outcomes: string[] = [];
    for (let i = 0; i < KILLS; i++) {
      const delay = Math.round(((i + random()) / KILLS) * fullRun);
      const before = await archives(dir);
      const run = startFerry(['backup'], env);
      const timer = setTimeout(() => run.child.kill('SIGKILL'), delay);
      const result = await run.done;
      clearTimeout(timer);
      const context = `seed ${seed}, kill ${i} at ${delay} ms`;
      const after = await archives(dir);
      for (const name of before) expect(after, `${context}: ${name} was removed`).toContain(name);
      for (const name of after.filter((n) => !before.includes(n))) {
        const check = await ferry(['verify', join(dir, name)], env);
        expect(check.code, `${context}: ${name} under its final name does not verify: ${check.stdout}${check.stderr}`).toBe(0);
      }
      const left = await leftoversIn(dir);
      outcomes.push(`${delay}ms:${result.code ?? 'killed'}:${left.length} left`);
      const next = await ferry(['backup', '--json'], env);
      expect(next.code, `${context}: the next backup failed: ${next.stderr}`).toBe(0);
      const reported = (JSON.parse(next.stdout) as { leftoversRemoved: Array<{ path: string }> }).leftoversRemoved.map((l) => l.path);
      expect(reported.filter((p) => left.includes(p.split('/').at(-1) as string)).length, `${context}: ${reported.join(', ')}`).toBe(left.length);
      expect(await leftoversIn(dir), context).toEqual([]);
    }
    console.log(`mongodb backup crash points (seed ${seed}, full run ${fullRun} ms): ${outcomes.join(' ')}`);
    expect(outcomes.filter((o) => o.includes(':killed')).length).toBeGreaterThanOrEqual(KILLS / 2);
  });

  it.skipIf(process.env.TEST_MONGODB_URL !== undefined && process.env.TEST_MONGODB_URL !== '')('killed between two renames of the swap: the next restore finishes the swap from its journal, and undo still brings back every dev document', async () => {
    const server = mongo.server as NonNullable<MongoTarget['server']>;
    const source = mongo.database('swap_prod');
    const client = await mongo.client();
    await fill(client.db(source));
    const backups = join(await tempDir(), 'backups');
    const made = await ferry(['backup'], mongoEnv(mongo, source, backups));
    expect(made.code, made.stderr).toBe(0);
    const targetName = mongo.database('swap_dev');
    const dev = client.db(targetName);
    for (const name of ['comments', 'recipes', 'users']) await dev.collection<{ _id: Int32; name: string }>(name).insertOne({ _id: new Int32(1), name: `dev ${name}` });
    const devState = await contentOf(dev);
    const restoredState = await contentOf(client.db(source));
    const env = mongoEnv(mongo, targetName, backups);

    let reached!: () => void;
    let release!: () => void;
    const atRename = new Promise<void>((resolve) => (reached = resolve));
    // The third rename: the first collection is swapped (two renames), the second is not yet.
    server.hold = { command: 'renameCollection', after: 3, reached, release: new Promise<void>((resolve) => (release = resolve)) };
    const run = startFerry(['restore', 'latest', '--yes'], env);
    await atRename;
    run.child.kill('SIGKILL');
    await run.done;
    release();
    await new Promise((r) => setTimeout(r, 200));
    const half = await contentOf(dev);
    expect(half).not.toEqual(devState);
    expect(half).not.toEqual(restoredState);
    expect(await keptNames(dev)).toContain('ferry__ferry_journal');

    const next = await ferry(['restore', 'latest', '--yes'], env);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toMatch(/mongo: finished the swap an interrupted restore left half-done \(/);
    expect(await contentOf(dev)).toEqual(restoredState);
    expect(await keptNames(dev)).not.toContain('ferry__ferry_journal');
    // What the killed restore replaced is what the next one kept: undo brings back every dev document.
    const undo = await ferry(['restore', '--undo', '--yes'], env);
    expect(undo.code, undo.stderr).toBe(0);
    expect(await contentOf(dev)).toEqual(devState);
  });

  it(`restore, ${KILLS} seeded moments: each collection as before or as archived, a half-done swap finished by the next run, nothing lost`, async () => {
    const source = mongo.database('crash_prod');
    const client = await mongo.client();
    await fill(client.db(source));
    const backups = join(await tempDir(), 'backups');
    const made = await ferry(['backup'], mongoEnv(mongo, source, backups));
    expect(made.code, made.stderr).toBe(0);
    const archived = await contentOf(client.db(source));

    const targetName = mongo.database('crash_dev');
    const dev = client.db(targetName);
    await dev.collection<{ _id: Int32; name: string }>('recipes').insertMany([{ _id: new Int32(1), name: 'draft' }, { _id: new Int32(2), name: 'mine' }]);
    await dev.collection('notes').insertOne({ text: 'dev only' });
    const env = mongoEnv(mongo, targetName, backups);
    const devState = await contentOf(dev);

    const started = Date.now();
    const whole = await ferry(['restore', 'latest', '--yes'], env);
    expect(whole.code, whole.stderr).toBe(0);
    const duration = Date.now() - started;
    const restoredState = Object.fromEntries(Object.entries({ ...archived, notes: devState.notes }).sort(([a], [b]) => a.localeCompare(b)));
    expect(await contentOf(dev)).toEqual(restoredState);
    const undo = await ferry(['restore', '--undo', '--yes'], env);
    expect(undo.code, undo.stderr).toBe(0);
    expect(await contentOf(dev)).toEqual(devState);

    const seed = crashSeed('mongodb restore crash points');
    const random = seededRandom(seed);
    const outcomes = { before: 0, restored: 0, finishedByNextRun: 0 };
    for (let i = 0; i < KILLS; i++) {
      const moment = Math.floor(random() * duration * 1.2);
      const run = startFerry(['restore', 'latest', '--yes'], env);
      const timer = setTimeout(() => run.child.kill('SIGKILL'), moment);
      const ended = await run.done;
      clearTimeout(timer);
      const where = `kill ${i + 1} at ${moment} ms (seed ${seed}, exit ${ended.code ?? 'killed'})`;
      const now = await contentOf(dev);
      const kept = await keptNames(dev);
      if (JSON.stringify(now) === JSON.stringify(devState)) outcomes.before++;
      else if (JSON.stringify(now) === JSON.stringify(restoredState)) outcomes.restored++;
      else {
        // Killed between two renames: MongoDB cannot rename several collections at once, so the
        // journal must be there for the next run to finish the swap, and no document may be lost.
        expect(kept, `${where}: a mix without a journal: ${JSON.stringify(now)}`).toContain('ferry__ferry_journal');
        outcomes.finishedByNextRun++;
      }
      if (JSON.stringify(now) !== JSON.stringify(devState)) {
        // Undo finishes a half-done swap first, then swaps back exactly what the restore replaced.
        const back = await ferry(['restore', '--undo', '--yes'], env);
        expect(back.code, `${where}: undo: ${back.stderr}`).toBe(0);
      }
      expect(await contentOf(dev), `${where}: back to the developer state`).toEqual(devState);
      expect(await keptNames(dev), where).not.toContain('ferry__ferry_journal');
    }
    console.log(`mongodb crash-restore (seed ${seed}, whole restore ${duration} ms): ${JSON.stringify(outcomes)}`);

    const leftBehind = (await keptNames(dev)).filter((n) => n.endsWith('__ferry_new'));
    const final = await ferry(['restore', 'latest', '--yes'], env);
    expect(final.code, final.stderr).toBe(0);
    for (const name of leftBehind) expect(final.stdout).toContain(`mongo: removed ${name}, left by an interrupted restore`);
    expect(await contentOf(dev)).toEqual(restoredState);
    expect((await keptNames(dev)).filter((n) => !n.endsWith('__ferry_prev'))).toEqual([]);
  });
});
