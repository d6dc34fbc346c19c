export { PostgresStore, CUSTOM_DUMP_ENTRY, PLAIN_SQL_ENTRY } from './store.js';
export { parseToolVersion, choosePgTools, findPgDumps } from './tools.js';
export type { PgToolRunner } from './runner.js';
export { CopyRowCounter, copyTarget } from './copy-counter.js';
export { describeUrl } from './connection.js';
