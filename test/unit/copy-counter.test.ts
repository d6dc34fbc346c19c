import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CopyRowCounter, copyTarget } from '../../src/stores/postgres/copy-counter.js';

async function count(sql: string, chunkSize: number): Promise<Record<string, number>> {
  const bytes = Buffer.from(sql);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const counter = new CopyRowCounter();
  let passed = 0;
  await pipeline(Readable.from(chunks), counter, new Writable({ write(chunk: Buffer, _e, cb) { passed += chunk.length; cb(); } }));
  expect(passed).toBe(bytes.length);
  return counter.counts;
}

const SQL = [
  'SET client_encoding = \'UTF8\';',
  'COPY public.actor (actor_id, first_name) FROM stdin;',
  '1\tPENELOPE',
  '2\tNICK\\nwith escaped newline',
  '\\.',
  '',
  'COPY "Music Shop"."Album ""Review""" ("Id", "Text") FROM stdin;',
  '1\t\\\\.',
  '2\t\\.x',
  '\\.',
  'COPY public.empty (id) FROM stdin;',
  '\\.',
  "CREATE FUNCTION f() RETURNS text AS $$ SELECT 'COPY x FROM stdin;' $$ LANGUAGE sql;",
  '',
].join('\n');

describe('counting rows from COPY blocks', () => {
  it('counts every table exactly, whatever the chunk boundaries', async () => {
    for (const size of [1, 2, 3, 7, 64, 100_000]) {
      expect(await count(SQL, size)).toEqual({ 'public.actor': 2, '"Music Shop"."Album ""Review"""': 2, 'public.empty': 0 });
    }
  });

  it('reads the table name exactly as written', () => {
    expect(copyTarget('COPY public.payment_p2022_01 (payment_id) FROM stdin;')).toBe('public.payment_p2022_01');
    expect(copyTarget('COPY "a b"."c.d" FROM stdin;')).toBe('"a b"."c.d"');
    expect(copyTarget('COPY public.x (a) TO stdout;')).toBeUndefined();
  });
});
