import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { postgresNameMatches } from '../../src/config/object-names.js';
import { FerryError } from '../../src/errors/index.js';
import { findAnomalies, type StoreCounts } from '../../src/health/anomalies.js';
import { anomalyRules } from '../../src/health/anomaly-rules.js';
import { tempDir } from '../support/tmp.js';

async function load(yaml: string) {
  const cwd = await tempDir();
  await writeFile(join(cwd, 'ferry.config.yaml'), yaml);
  return loadConfig({ cwd, env: {} });
}

async function refusal(yaml: string): Promise<string> {
  const error = await load(yaml).then(() => undefined, (e: unknown) => e);
  expect(error, 'the configuration was accepted').toBeInstanceOf(FerryError);
  expect((error as FerryError).code).toBe('CONFIG_INVALID');
  return (error as FerryError).message;
}

describe('health.anomalies configuration', () => {
  it('reads global thresholds and per-object rules', async () => {
    const { config } = await load([
      'health:',
      '  anomalies:',
      '    max_drop_percent: 30',
      '    max_drop_count: 200',
      '    postgres:',
      '      public.sessions: { shrink: expected }',
      '      \'"Audit Log"\': { max_drop_percent: 90 }',
      '    mongodb:',
      '      events: { max_drop_count: 10 }',
      '    uploads:',
      '      files: { shrink: expected }',
      '',
    ].join('\n'));
    const rules = anomalyRules(config.health?.anomalies);
    expect(rules.thresholds).toEqual({ previous: 7, dropRatio: 0.3, dropAbsolute: 200 });
    expect(rules.ruleFor('postgres', 'public.sessions')).toEqual({ shrinkExpected: true });
    expect(rules.ruleFor('postgres', 'audit."Audit Log"')).toEqual({ dropRatio: 0.9 });
    expect(rules.ruleFor('postgres', 'other.sessions')).toBeUndefined();
    expect(rules.ruleFor('mongo', 'events')).toEqual({ dropAbsolute: 10 });
    expect(rules.ruleFor('uploads', 'files')).toEqual({ shrinkExpected: true });
    expect(rules.ruleFor('uploads', 'directories')).toBeUndefined();
    expect(rules.unmatched([{ postgres: { 'public.sessions': 1 }, mongo: { event: 3 }, uploads: { files: 2 } }])).toEqual([
      { key: 'health.anomalies.postgres', name: '"Audit Log"' },
      { key: 'health.anomalies.mongodb', name: 'events' },
    ]);
  });

  it('without the section: the defaults, no rules', async () => {
    const { config } = await load('backup:\n  directory: ./b\n');
    const rules = anomalyRules(config.health?.anomalies);
    expect(rules.thresholds).toEqual({ previous: 7, dropRatio: 0.5, dropAbsolute: 1000 });
    expect(rules.ruleFor('postgres', 'public.t')).toBeUndefined();
  });

  it.each([
    ['postgres:\n      "a.b.c": { shrink: expected }', 'table name "a.b.c": expected table or schema.table'],
    ['postgres:\n      ".t": { shrink: expected }', 'table name ".t": expected table or schema.table, with no empty part'],
    ['postgres:\n      \'public."open\': { shrink: expected }', 'a double quote is not closed'],
    ['postgres:\n      " t": { shrink: expected }', 'begins or ends with a space'],
    [`postgres:\n      ${'x'.repeat(64)}: { shrink: expected }`, "longer than PostgreSQL's 63 bytes"],
    ['mongodb:\n      "a$b": { shrink: expected }', 'collection name "a$b": a collection name cannot hold $'],
    ['mongodb:\n      "": { shrink: expected }', 'expected a collection name'],
    ['postgres:\n      t: { shrink: yes }', 'expected shrink: expected'],
    ['postgres:\n      t: { shrink: expected, max_drop_percent: 10 }', 'shrink: expected turns the drop thresholds off'],
    ['postgres:\n      t: { max_drop_percent: 150 }', 'health.anomalies.postgres.t.max_drop_percent'],
    ['postgres:\n      t: { max_drop_percnt: 10 }', 'unknown key health.anomalies.postgres.t.max_drop_percnt, did you mean max_drop_percent'],
    ['uploads:\n      file: { shrink: expected }', 'unknown key health.anomalies.uploads.file, did you mean files'],
  ])('refuses %j', async (section, message) => {
    expect(await refusal(`health:\n  anomalies:\n    ${section}\n`)).toContain(message);
  });
});

describe('names and rules', () => {
  it('a configured table name matches pg_dump\'s qualified, quoted names', () => {
    expect(postgresNameMatches('sessions', 'public.sessions')).toBe(true);
    expect(postgresNameMatches('sessions', 'app.sessions')).toBe(true);
    expect(postgresNameMatches('public.sessions', 'app.sessions')).toBe(false);
    expect(postgresNameMatches('Users', 'public."Users"')).toBe(true);
    expect(postgresNameMatches('"my.table"', 'public."my.table"')).toBe(true);
    expect(postgresNameMatches('my', 'public."my.table"')).toBe(false);
    expect(postgresNameMatches('session', 'public.sessions')).toBe(false);
  });

  it('an object\'s own rule replaces the thresholds; expected to shrink lets any drop pass, not a disappearance', () => {
    const earlier: StoreCounts[] = [{ pg: { log: 5000, t: 400, gone: 50 } }, { pg: { log: 5000, t: 400, gone: 50 } }];
    const ruleFor = (_store: string, object: string) => (object === 'log' || object === 'gone' ? { shrinkExpected: true } : object === 't' ? { dropRatio: 0.2, dropAbsolute: 50 } : undefined);
    expect(findAnomalies({ pg: { log: 0, t: 300 } }, earlier, undefined, ruleFor)).toEqual([
      { store: 'pg', object: 't', before: 400, after: 300, disappeared: false },
      { store: 'pg', object: 'gone', before: 50, after: 0, disappeared: true },
    ]);
    expect(findAnomalies({ pg: { log: 0, t: 300, gone: 50 } }, earlier)).toEqual([{ store: 'pg', object: 'log', before: 5000, after: 0, disappeared: false }]);
  });
});
