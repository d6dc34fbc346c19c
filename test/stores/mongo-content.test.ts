import { writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BSON, BSONRegExp, Decimal128, Double, Int32, Long, type Document } from 'bson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replaceEntry } from '../support/archive-edit.js';
import { ferry } from '../support/cli.js';
import { mongoEnv, startMongoTarget, type MongoTarget } from '../support/mongo-target.js';
import { tempDir } from '../support/tmp.js';

let mongo: MongoTarget;

beforeAll(async () => {
  mongo = await startMongoTarget();
});
afterAll(async () => {
  await mongo.stop();
});

function env(database: string, backups: string, extra: Record<string, string> = {}): Record<string, string> {
  return mongoEnv(mongo, database, backups, extra);
}

function archiveIn(dir: string): string {
  return join(dir, readdirSync(dir).find((n) => n.endsWith('.tar.gz'))!);
}

/** The encoded document with the first occurrence of `marker` (ASCII) replaced by the same number of other bytes. */
function patched(doc: Document, marker: string, bytes: number[]): Buffer {
  const encoded = Buffer.from(BSON.serialize(doc));
  const at = encoded.indexOf(marker, 0, 'latin1');
  Buffer.from(bytes).copy(encoded, at);
  return encoded;
}

async function backedUp(prefix: string): Promise<{ database: string; backups: string }> {
  const client = await mongo.client();
  const database = mongo.database(prefix);
  await client.db(database).collection('recipes').insertMany([{ title: 'a' }, { title: 'b' }]);
  const backups = join(await tempDir(), 'b');
  expect((await ferry(['backup'], env(database, backups))).code).toBe(0);
  return { database, backups };
}

describe('ferry verify checks the UTF-8 that js-bson does not', () => {
  const cases = [
    {
      what: 'a field name',
      documents: [BSON.serialize({ _id: new Int32(1), ok: 'fine' }), patched({ _id: new Int32(2), cafX: 'value' }, 'cafX', [0x63, 0x61, 0x66, 0xe9])],
      problem: 'document 2: a field name is not valid UTF-8',
    },
    {
      what: 'a nested field name',
      documents: [patched({ _id: new Int32(1), outer: { inX: 1 } }, 'inX', [0x69, 0x6e, 0xff])],
      problem: 'document 1: a field name inside outer is not valid UTF-8',
    },
    {
      what: 'a regular expression',
      documents: [patched({ _id: new Int32(1), r: new BSONRegExp('abX', 'i') }, 'abX', [0x61, 0x62, 0xc3])],
      problem: 'document 1: the regular expression pattern of r is not valid UTF-8',
    },
  ];
  for (const { what, documents, problem } of cases) {
    it(`rejects ${what} that is not valid UTF-8 in a consistently checksummed archive, naming file and document`, async () => {
      const { database, backups } = await backedUp('utf8');
      replaceEntry(archiveIn(backups), `mongodb/${database}/recipes.bson`, Buffer.concat(documents.map((d) => Buffer.from(d))));
      const verified = await ferry(['verify', 'latest'], env(database, backups));
      expect(verified.code, verified.stdout + verified.stderr).toBe(2);
      expect(verified.stdout + verified.stderr).toContain(`mongodb/${database}/recipes.bson is not valid BSON at byte `);
      expect(verified.stdout + verified.stderr).toContain(problem);
      const target = mongo.database('utf8_dev');
      const restored = await ferry(['restore', 'latest', '--yes'], env(target, backups));
      expect(restored.code).toBe(2);
      expect(restored.stderr).toContain(problem);
    });
  }
});

describe('masking values that are not strings', () => {
  const RULES = `
mask:
  mongodb:
    users:
      emails: email
      phone: phone
      score: hash
      visits: name
      price: text
      address: "null"
`;

  async function production() {
    const client = await mongo.client();
    const database = mongo.database('maskkinds');
    await client.db(database).collection('users').insertMany([
      { _id: new Int32(1), emails: ['odette@grimoire.fr', 'o.lavande@example.org'], phone: new Int32(612345678), score: new Double(12.5), visits: Long.fromNumber(1234567890123), price: Decimal128.fromString('19.99'), address: { street: '12 rue Secrète', city: 'Lyon' } },
      { _id: new Int32(2), emails: [], phone: new Int32(-42), score: new Double(1e21), visits: Long.fromNumber(7), price: Decimal128.fromString('1.5E+3'), address: null },
    ] as never[]);
    const work = await tempDir();
    const backups = join(work, 'b');
    expect((await ferry(['backup'], env(database, backups))).code).toBe(0);
    return { client, work, backups };
  }

  it('masks arrays of strings per element and numbers digit by digit, keeping each BSON type; sub-documents under null', async () => {
    const { client, work, backups } = await production();
    const config = join(work, 'ferry.config.yaml');
    writeFileSync(config, RULES);
    const target = mongo.database('maskkinds_dev');
    const result = await ferry(['--config', config, 'restore', 'latest', '--yes'], env(target, backups, { FERRY_MASK_KEY: 'mask-key-for-tests-0123456789' }));
    expect(result.code, result.stderr).toBe(0);
    const raw = (await client.db(target).collection('users').find({}, { raw: true }).toArray()) as unknown as Buffer[];
    const [first, second] = raw.map((b) => BSON.deserialize(b, { promoteValues: false, promoteLongs: false }));
    const text = raw.map((b) => BSON.EJSON.stringify(BSON.deserialize(b), { relaxed: false })).join('\n');
    for (const original of ['odette@grimoire.fr', 'o.lavande@example.org', '612345678', '12.5', '1234567890123', '19.99', 'Secrète', 'Lyon']) expect(text).not.toContain(original);
    expect(first?.emails).toHaveLength(2);
    expect((first?.emails as string[]).every((e) => e.endsWith('@example.invalid'))).toBe(true);
    expect(first?.phone).toBeInstanceOf(Int32);
    expect(String(Math.abs((first?.phone as Int32).value)).length).toBeLessThanOrEqual(9);
    expect(first?.score).toBeInstanceOf(Double);
    expect(first?.visits).toBeInstanceOf(Long);
    expect(first?.price).toBeInstanceOf(Decimal128);
    expect(first?.address).toBeNull();
    expect((second?.phone as Int32).value).toBeLessThan(0);
    expect(second?.price).toBeInstanceOf(Decimal128);
    expect((second?.price as Decimal128).toString()).toMatch(/E\+3$/);
  });

  it('refuses a sub-document under a rule that masks strings before anything is restored', async () => {
    const { client, work, backups } = await production();
    const config = join(work, 'ferry.config.yaml');
    writeFileSync(config, RULES.replace('address: "null"', 'address: address'));
    const target = mongo.database('maskkinds_refused');
    await client.db(target).collection('users').insertOne({ _id: new Int32(99), note: 'dev' } as never);
    const result = await ferry(['--config', config, 'restore', 'latest', '--yes'], env(target, backups, { FERRY_MASK_KEY: 'mask-key-for-tests-0123456789' }));
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^ferry: mask rule users\.address: document 1 holds a sub-document there, which address cannot mask$/m);
    expect(await client.db(target).collection('users').find().toArray()).toEqual([{ _id: 99, note: 'dev' }]);
    expect((await client.db(target).listCollections().toArray()).map((c) => c.name)).toEqual(['users']);
  });
});
