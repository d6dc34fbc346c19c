export { PostgresStore, CUSTOM_DUMP_ENTRY, PLAIN_SQL_ENTRY } from './store.js';
export { parseToolVersion, choosePgTools, findPgDumps, type PgTools } from './tools.js';
export { CopyRowCounter, copyTarget } from './copy-counter.js';
export { describeUrl } from './connection.js';
