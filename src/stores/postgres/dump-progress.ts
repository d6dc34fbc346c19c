import { stat } from 'node:fs/promises';
import type { StoreManifest } from '../../archive/index.js';
import type { ProgressReporter } from '../store.js';

/** pg_dump --verbose names each table as its data starts: `pg_dump: dumping contents of table "public.recipes"`. */
const TABLE_LINE = /^pg_dump: dumping contents of table "(.+)"\s*$/;

/** pg_dump --verbose chatter; its errors, warnings and their details are kept for messages. */
const CHATTER = /^pg_dump: (?!error:|warning:|detail:|hint:)/;

export function withoutVerboseLines(stderr: string): string {
  return stderr.split('\n').filter((line) => !CHATTER.test(line)).join('\n');
}

/**
 * Without a previous backup, the custom dump is guessed at a share of the database's size on disk
 * (indexes and free space are not dumped; a compressed dump is smaller still); the percent is
 * marked as an estimate either way.
 */
const FIRST_GUESS_RATIO = { compressed: 0.5, uncompressed: 0.9 };

/** The previous backup's dump size scaled by how much the database grew since; else the first guess. */
export function expectedDumpBytes(databaseBytes: number, previous: StoreManifest | undefined, compressed: boolean): number {
  const previousDump = Number(previous?.facts?.dumpBytes);
  const previousDatabase = Number(previous?.facts?.databaseBytes);
  if (previousDump > 0 && previousDatabase > 0 && databaseBytes > 0) return Math.round(previousDump * (databaseBytes / previousDatabase));
  return Math.round(databaseBytes * FIRST_GUESS_RATIO[compressed ? 'compressed' : 'uncompressed']);
}

/**
 * Follows a running pg_dump: the bytes of the file it writes (polled, since a local pg_dump writes
 * it itself), and the table its verbose stderr names.
 */
export function followDump(path: string, progress: ProgressReporter): { onStderrLine: (line: string) => void; stop: () => void } {
  let table: string | undefined;
  let bytes = 0;
  const report = () => progress.update(bytes, table === undefined ? undefined : `table ${table}`);
  const timer = setInterval(() => {
    stat(path).then((s) => {
      bytes = s.size;
      report();
    }, () => undefined);
  }, 250);
  timer.unref();
  return {
    onStderrLine: (line) => {
      const match = TABLE_LINE.exec(line);
      if (match === null) return;
      table = match[1];
      report();
    },
    stop: () => clearInterval(timer),
  };
}
