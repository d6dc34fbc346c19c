import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { psqlFile } from './pg.js';

export const SHARED_FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/', import.meta.url));

export async function loadPagila(database: string): Promise<void> {
  await psqlFile(database, join(SHARED_FIXTURES, 'pagila', 'pagila-schema.sql'));
  await psqlFile(database, join(SHARED_FIXTURES, 'pagila', 'pagila-data.sql'));
}

/** Chinook's script creates and connects to its own database; load everything after that into ours. */
export async function loadChinook(database: string, scratch: string): Promise<void> {
  const text = await readFile(join(SHARED_FIXTURES, 'chinook', 'Chinook_PostgreSql.sql'), 'utf8');
  const marker = '\\c chinook;';
  const body = text.slice(text.indexOf(marker) + marker.length);
  const file = join(scratch, 'chinook-body.sql');
  await writeFile(file, body);
  await psqlFile(database, file);
}
