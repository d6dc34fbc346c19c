// Starts the throw-away PostgreSQL server that `ferry demo` and the tests use (built dist/), writes
// its URL for the database "postgres" to the file named by the first argument, and stops the
// server (removing its files) on SIGTERM or SIGINT.
import { rename, writeFile } from 'node:fs/promises';
import { startThrowawayPostgres } from '../dist/demo/throwaway-postgres.js';

const [urlFile] = process.argv.slice(2);
const server = await startThrowawayPostgres();
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.stop().finally(() => process.exit(0));
  });
}
await writeFile(`${urlFile}.partial`, `${server.url('postgres')}\n`, { mode: 0o600 });
await rename(`${urlFile}.partial`, urlFile);
