import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { MongoTestServer } from '../support/mongo/server.js';
import { mongoToolsDir } from '../support/mongo-tools.js';
import { missing } from '../support/needs.js';
import { tempDir } from '../support/tmp.js';

const tools = mongoToolsDir();
const run = promisify(execFile);

let server: MongoTestServer;
let url: string;
beforeAll(async () => {
  server = new MongoTestServer();
  url = await server.start();
});
afterAll(async () => {
  await server.stop();
});

describe('backup_info.txt: the MongoDB commands it gives work with the real mongorestore', () => {
  it.skipIf(missing('the real mongorestore (../shared/tools/mongo-tools/build.sh)', tools !== undefined))('restores the extracted mongodb/ folder as written, and into another database', async () => {
    const client = await MongoClient.connect(url);
    try {
      await client.db('legrimoire').collection('recipes').insertMany([{ title: 'tarte', ingredients: ['pommes', 'pâte'] }, { title: 'soupe', minutes: 30 }]);
      await client.db('legrimoire').collection('categories').insertMany([{ name: 'desserts' }]);
      const work = await tempDir();
      const backups = join(work, 'backups');
      const made = await ferry(['backup'], { MONGODB_URL: `${url}/legrimoire`, BACKUP_DIRECTORY: backups, FERRY_MONGODB_EXPORT_COLLECTIONS: '' });
      expect(made.code, made.stderr).toBe(0);
      const archive = join(backups, readdirSync(backups).find((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n)) as string);
      const extracted = join(work, 'restore');
      mkdirSync(extracted);
      execFileSync('tar', ['-xzf', archive, '-C', extracted]);
      const info = readFileSync(join(extracted, 'backup_info.txt'), 'utf8');
      const command = /^ {4}(mongorestore .*)$/m.exec(info)?.[1];
      expect(command).toBe("mongorestore --uri 'mongodb://localhost:27017' --drop --dir mongodb/");
      const nsLine = /into another database: add (--nsFrom '<database>\.\*' --nsTo 'mydb\.\*')/.exec(info)?.[1];
      expect(nsLine).toBeDefined();

      // The command as written, with only the server's address changed (--drop: the source's collections are replaced by their copies), then into another database.
      const args = (text: string) => [...text.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] as string);
      const mongorestore = join(tools as string, 'mongorestore');
      // Asynchronously: the test server answers from this process.
      await run(mongorestore, args(command as string).slice(1).map((a) => (a === 'mongodb://localhost:27017' ? url : a)), { cwd: extracted });
      expect(await client.db('legrimoire').collection('recipes').find().toArray()).toHaveLength(2);
      expect((await client.db('legrimoire').collection('categories').find().toArray()).map((d) => d.name)).toEqual(['desserts']);

      const renamed = args(`${command as string} ${(nsLine as string).replace('<database>', 'legrimoire').replace('mydb', 'legrimoire_dev')}`);
      await run(mongorestore, renamed.slice(1).map((a) => (a === 'mongodb://localhost:27017' ? url : a)), { cwd: extracted });
      const restored = await client.db('legrimoire_dev').collection('recipes').find().toArray();
      const source = await client.db('legrimoire').collection('recipes').find().toArray();
      expect(restored).toEqual(source);
    } finally {
      await client.close();
    }
  });
});
