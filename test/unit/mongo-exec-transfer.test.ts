import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/config/index.js';
import { mongodbConfigSchema } from '../../src/config/schema.js';
import { silentProgress, type StoreContext } from '../../src/stores/store.js';
import { toolRedactor, toolUri } from '../../src/stores/mongo/container-tools.js';
import { archiveTransfer } from '../../src/stores/mongo/transfer.js';

const config = (extra: Record<string, unknown>) => mongodbConfigSchema.parse({ exec: 'docker://le-grimoire-mongodb-prod', ...extra });

describe('mongodb.exec with the tools in the container', () => {
  it('gives the tools the URL\'s credentials and authSource, the port on 127.0.0.1, and no database', () => {
    expect(toolUri(config({ url: 'mongodb://localhost:27018/legrimoire', user: 'app', password: 'p@ss:/w' }), 'write'))
      .toBe('mongodb://app:p%40ss%3A%2Fw@127.0.0.1:27018/?authSource=admin&directConnection=true');
    // Credentials in the URL authenticate against its database unless authSource says otherwise.
    expect(toolUri(config({ url: 'mongodb://app:pw@mongodb/legrimoire?replicaSet=rs0' }), 'write')).toBe('mongodb://app:pw@127.0.0.1:27017/?authSource=legrimoire&directConnection=true');
    expect(toolUri(config({ url: 'mongodb://app:pw@db:27017/legrimoire?authSource=admin', read_preference: 'secondaryPreferred' }), 'read'))
      .toBe('mongodb://app:pw@127.0.0.1:27017/?authSource=admin&directConnection=true&readPreference=secondaryPreferred');
    expect(toolRedactor(config({ url: 'mongodb://app:p%40ss@db/legrimoire' })).redact('Failed: bad auth for p@ss and p%40ss')).toBe('Failed: bad auth for *** and ***');
  });

  it('auto keeps the tunnel for a backup the server can read at one cluster time, wire always does, and each says so', async () => {
    const lines: string[] = [];
    const ctx: StoreContext = { signal: new AbortController().signal, log: { info: (m) => lines.push(m), warn: () => undefined, debug: () => undefined }, progress: silentProgress, redactor: new Redactor(), tempDir: '/nonexistent' };
    expect(await archiveTransfer(config({ url: 'mongodb://localhost/app' }), 'mongodump', ctx, 'mongodb app', true)).toBeUndefined();
    expect(await archiveTransfer(config({ url: 'mongodb://localhost/app', exec_transfer: 'wire' }), 'mongorestore', ctx, 'mongodb app')).toBeUndefined();
    expect(await archiveTransfer(mongodbConfigSchema.parse({ url: 'mongodb://localhost/app' }), 'mongodump', ctx, 'mongodb app')).toBeUndefined();
    expect(lines).toEqual([
      'mongodb app: data through the wire-protocol tunnel (the server reads every collection at one cluster time, which mongodump of one database cannot)',
      'mongodb app: data through the wire-protocol tunnel (mongodb.exec_transfer: wire)',
    ]);
  });
});
