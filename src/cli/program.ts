import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { Redactor } from '../config/index.js';
import { EXIT, FerryError, interrupted } from '../errors/index.js';
import { FERRY_VERSION } from '../version.js';
import type { BackupCommandOptions } from './commands/backup.js';
import type { HealthCommandOptions } from './commands/health.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { PruneCommandOptions } from './commands/prune.js';
import type { ServeCommandOptions } from './commands/serve.js';
import { reportFailure } from './render/errors.js';
import { jsonDocument } from './render/json.js';
import { bootstrapOutput, openSession, type GlobalOptions, type Session } from './session.js';

const EXIT_CODES_HELP = `
Exit codes: 0 success, 1 operation failed (connection, tool, disk), 2 integrity failure
(corrupt or truncated archive, count mismatch), 3 usage or configuration error,
4 refused by a safety rule, 130 interrupted.`;

// Plain decimal digits only, as in the configuration: '', 0x10, 1e1 and -1 are usage errors (exit 3).
function decimal(min: number, { whole, above }: { whole: boolean; above?: boolean }): (value: string) => number {
  return (value) => {
    const pattern = whole ? /^\d+$/ : /^\d+(\.\d+)?$/;
    const n = Number(value);
    if (!pattern.test(value.trim()) || (above === true ? n <= min : n < min)) {
      throw new InvalidArgumentError(`expected ${whole ? 'a whole number' : 'a number'} ${above === true ? 'above' : 'of at least'} ${min}, written in decimal digits`);
    }
    return n;
  };
}

const positiveNumber = decimal(0, { whole: false });
const aboveZero = decimal(0, { whole: false, above: true });
const positiveInt = decimal(0, { whole: true });
const atLeastOne = decimal(1, { whole: true });
const repeatable = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * Runs one command with the shared set-up: config, Ctrl-C handling, the error → exit code switch.
 * A command with its own failure convention (health: UNKNOWN) passes `onFailure`.
 */
async function run(command: Command, work: (session: Session) => Promise<number>, onFailure?: (error: FerryError, json: boolean) => Promise<number>): Promise<void> {
  const options = command.optsWithGlobals<GlobalOptions>();
  const output = bootstrapOutput(options);
  const controller = new AbortController();
  let redactor = new Redactor();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(EXIT.interrupted);
    output.line('interrupted: stopping and cleaning up (press Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const session = await openSession(options, output, controller.signal);
    redactor = session.ctx.redactor;
    const code = await work(session);
    output.clear();
    if (controller.signal.aborted) throw interrupted();
    output.flushJson();
    process.exitCode = code;
  } catch (error) {
    output.clear();
    const failure = controller.signal.aborted && !(error instanceof FerryError && error.code === 'INTERRUPTED') ? interrupted() : error;
    process.exitCode = onFailure !== undefined && failure instanceof FerryError && failure.code !== 'INTERRUPTED'
      ? await onFailure(failure, options.json)
      : reportFailure(failure, redactor, options.json, options.logFormat === 'json' ? 'json' : 'text', output.takeJson()).exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const RESTORE_HELP = `
The plan is shown (and confirmed on a terminal) before anything changes. The archive is read once, as
far as the restore uses it, and every entry used is checked against its sha256 before anything is
swapped in or committed (ferry verify reads every entry).
PostgreSQL (strategy swap, the default): the archive is loaded into an empty <db>__ferry_new beside the
target (pg_restore --no-owner --no-privileges, --jobs N), its counts are checked, then one transaction
renames the target to <db>__ferry_prev and the new database into place. Sessions connected to the target
make it refuse unless --force. A role without CREATEDB or ownership of the target gets the in-place
strategy: one transaction that drops the dumped schemas and loads them again. --tables replaces only those
tables' rows (TRUNCATE, then their data and sequences) in one transaction.
MongoDB: every collection is loaded into a temporary collection first, then each is renamed over its target.
Uploads: built beside the folder (unchanged files hard-linked), then swapped in.
The replaced copies are kept: ferry restore --undo swaps them back, --drop-previous removes them. With
restore.keep_pristine, ferry reset brings back the state just restored, in seconds.`;

function printVersion(json: boolean): void {
  process.stdout.write(`${json ? jsonDocument({ name: 'ferry', version: FERRY_VERSION, node: process.version, platform: `${process.platform}-${process.arch}` }) : versionLine()}\n`);
}

/** What --version and `ferry version` print: enough for a bug report. */
function versionLine(): string {
  return `ferry ${FERRY_VERSION} (node ${process.version}, ${process.platform}-${process.arch})`;
}

/**
 * Words users bring from other tools (restic and Barman say check) and abbreviations that commander's
 * spelling distance does not connect to the command they mean.
 */
function nearMiss(parent: Command, word: string, meant: string): void {
  parent.command(word, { hidden: true })
    .argument('[args...]')
    .allowUnknownOption()
    .helpOption(false)
    .action((_args: string[], _opts: unknown, command: Command) => {
      command.error(`error: unknown command '${word}'\n(Did you mean ${meant}?)`, { code: 'commander.unknownCommand', exitCode: EXIT.usage });
    });
}

/** Each command's module is imported when the command runs: the others (the dashboard's web server among them) are never loaded. */
export function buildProgram(): Command {
  const program = new Command('ferry')
    .description('Back up PostgreSQL, MongoDB and an uploads folder into one checksummed archive, and restore it into development safely.')
    .option('-V, --version', 'print the Ferry version, with the Node.js version and platform (JSON with --json)')
    .option('-c, --config <file>', 'configuration file (default: ferry.config.yaml if present, else environment variables only)')
    .option('--json', 'print machine-readable JSON on stdout', false)
    .option('-q, --quiet', 'print only data and errors', false)
    .option('-v, --verbose', 'print debug lines', false)
    .addOption(new Option('-i, --identity <file>', 'age identity file for encrypted archives; repeat for several (also FERRY_AGE_IDENTITY_FILE; passphrases: FERRY_AGE_PASSPHRASE or FERRY_AGE_PASSPHRASE_FILE)').argParser(repeatable))
    .addOption(new Option('--env-file <file>', 'load NAME=value lines (.env, .env.production) before the configuration; repeatable, later files win, variables already set win over all').argParser(repeatable))
    .addOption(new Option('--log-format <format>', 'log lines on stderr as text, or as JSON objects for journald/Loki').choices(['text', 'json']).default('text'))
    .addHelpText('after', EXIT_CODES_HELP)
    // Inherited by every subcommand: `ferry backup --help` lists --config, --json, … too.
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError()
    // Parse errors are printed by reportUsageError, as every other error is: "ferry: …" and a hint.
    .configureOutput({ outputError: () => undefined })
    .exitOverride();

  program.command('backup')
    .description('dump every configured store into one archive in the backup directory, verify it, then apply retention')
    .option('--no-prune', 'do not apply retention after this backup')
    .option('--metrics-file <path>', 'write Prometheus text format there after the run (failed runs too)')
    .addHelpText('after', '\nWrites backup_YYYYMMDD_HHMMSS.tar.gz (UTC, mode 0600; .tar.gz.age with backup.encryption) via a .partial\nfile, verified in the same pass as it is written, plus .sha256, .manifest.json and .verify.json sidecars.\nA failed or interrupted backup leaves no archive and prunes nothing. With storage.remote, the verified\narchive is then uploaded (see ferry push) and retention applied there too; a failed upload keeps the\nlocal backup and exits 1.')
    .action((opts: BackupCommandOptions, command: Command) => run(command, async (s) => (await import('./commands/backup.js')).backupCommand(s, opts)));

  program.command('restore')
    .description('restore all or part of an archive into the configured targets, keeping what it replaces for --undo')
    .argument('[archive]', 'archive path, file name in the backup directory, "latest", or s3://bucket/prefix/<name|latest> (pulled first)')
    .option('--only <stores>', 'comma-separated stores to restore: postgres, mongo, uploads')
    .option('--collections <names>', 'comma-separated MongoDB collections to restore (all when absent)')
    .option('--to-db <name>', 'restore into this database name on the configured servers (PostgreSQL: created if missing)')
    .addOption(new Option('--jobs <n>', 'parallel pg_restore jobs into the database built beside the target (default: the cores, at most 4)').argParser(atLeastOne))
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
    .option('--dry-run', 'print what would be replaced and loaded, change nothing')
    .option('--tables <names>', 'comma-separated PostgreSQL tables whose rows to replace, in one transaction, keeping the target\'s schema')
    .option('--cascade', 'with --tables: also empty the tables that reference the selected ones')
    .option('--force', 'terminate sessions connected to the target database instead of refusing (restore.disconnect)')
    .option('--undo', 'swap back the previous copies kept by the last restore (no archive)')
    .option('--drop-previous', 'remove the previous and pristine copies kept by restores (no archive)')
    .option('--allow-source-target', 'allow restoring into the database the archive was taken from')
    .option('--allow-remote-target', 'allow a target server that is not clearly local (localhost, a socket, a Compose service name)')
    .option('--mask', 'mask personal data with the mask: rules on the way in (the default when rules exist; needs FERRY_MASK_KEY)')
    .option('--no-mask', 'restore the data as it is although mask: rules exist')
    .addHelpText('after', RESTORE_HELP)
    .action((archive: string | undefined, opts, command: Command) => run(command, async (s) => (await import('./commands/restore.js')).restoreCommand(s, archive, opts)));

  program.command('reset')
    .description('bring every target back to the pristine copy of the last restore (restore.keep_pristine), without the archive')
    .option('--only <stores>', 'comma-separated stores: postgres, mongo, uploads')
    .option('--to-db <name>', 'the database name the restore used with --to-db')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
    .option('--force', 'terminate sessions connected to the target database instead of refusing')
    .option('--allow-remote-target', 'allow a target server that is not clearly local')
    .action((opts, command: Command) => run(command, async (s) => (await import('./commands/restore.js')).resetCommand(s, opts)));

  const notifyGroup = program.command('notify').description('notifications: webhook, command and e-mail (notify: in the config)');
  notifyGroup.command('test')
    .description('send one test message through every configured notifier and say which worked')
    .option('--metrics-file <path>', 'record each notifier\'s outcome there (ferry_notification_*), as backup and health do')
    .action((opts: { metricsFile?: string }, command: Command) => run(command, async (s) => (await import('./commands/notify.js')).notifyTestCommand(s, opts)));

  program.command('mask')
    .description('write a copy of an archive with personal data masked by the mask: rules, for people who must not get the raw one')
    .argument('<archive>', 'archive path, file name in the backup directory, or "latest"')
    .requiredOption('-o, --output <file>', 'where to write the masked archive (never overwritten)')
    .addHelpText('after', '\nNeeds FERRY_MASK_KEY (never stored). PostgreSQL goes in as plain SQL (pg_restore --clean output) with the\nruled columns rewritten; the custom-format dump is left out, so only the masked data travels. Masked\ncollections are rewritten and their JSON exports left out; uploads are copied as they are. The\nmanifest records the rule set (sha256 and rules) and the counts; the result is verified before use.')
    .action((archive: string, opts: { output: string }, command: Command) => run(command, async (s) => (await import('./commands/mask.js')).maskCommand(s, archive, opts.output)));

  program.command('consolidate')
    .description('write a full backup of a delta (uploads.incremental) from its chain, without reading the uploads folder')
    .argument('<archive>', 'archive path, file name in the backup directory, or "latest"')
    .addHelpText('after', '\nReads the chain\'s full and deltas (each checked against its manifest), takes each file of the delta\'s\nlist once, and writes a verified full beside it, named one second after it. The next backup builds on\nit; retention can then remove the old chain once no kept backup needs it. The delta itself stays.')
    .action((archive: string, _opts, command: Command) => run(command, async (s) => (await import('./commands/consolidate.js')).consolidateCommand(s, archive)));

  program.command('list')
    .description('backups in the backup directory, newest first (reads sidecars, not archives)')
    .option('--remote', 'list the copies at storage.remote instead')
    .action((opts: { remote?: boolean }, command: Command) => run(command, async (s) => (await import('./commands/list.js')).listCommand(s, opts)));

  program.command('push')
    .description('upload backups to storage.remote (S3): the one named, or every local one the remote lacks')
    .argument('[archive]', 'archive path, file name in the backup directory, or "latest"; all missing ones when absent')
    .addHelpText('after', '\nEach archive is uploaded in parts (each part retried), then checked: the bytes sent must match its\n.sha256 sidecar and the stored object must have their size and ETag. Its sidecars follow, .sha256\nlast, so a remote backup is complete exactly when its .sha256 is there. Without an archive, pushes\nthe local backups the remote lacks that remote retention would keep. Credentials come from the AWS\nenvironment variables or profile, never from the command line.')
    .action((archive: string | undefined, _opts, command: Command) => run(command, async (s) => (await import('./commands/push.js')).pushCommand(s, archive)));

  program.command('pull')
    .description('download a backup from storage.remote into the backup directory, checking its sha256')
    .argument('<backup>', 'a remote archive name, "latest" (newest complete one), or s3://bucket/prefix/<name|latest>')
    .addHelpText('after', '\nStreams to a .partial file while hashing; a copy whose sha256 differs from the remote .sha256 sidecar\nis removed. An existing file of the same name is never overwritten. Needs only read access\n(s3:GetObject, s3:ListBucket).')
    .action((reference: string, _opts, command: Command) => run(command, async (s) => (await import('./commands/pull.js')).pullCommand(s, reference)));

  program.command('inspect')
    .description("show an archive's manifest: versions, per-table counts, checksums, how to restore")
    .argument('<archive>', 'archive path, file name in the backup directory, or "latest"')
    .action((archive: string, _opts, command: Command) => run(command, async (s) => (await import('./commands/inspect.js')).inspectCommand(s, archive)));

  program.command('verify')
    .description('prove an archive is whole: every checksum, the PostgreSQL dump readable to its end, every BSON document')
    .argument('<archive>', 'archive path, file name in the backup directory, "latest" or "all"')
    .option('--remote', 'verify the copies at storage.remote instead: each is streamed through the same checks, never stored')
    .addHelpText('after', '\nReads the archive once and reports every problem (encrypted archives need --identity or a passphrase).\nThe outcome is kept in <archive>.verify.json, which list, health and prune read. Exit 0 when whole, 2 when not.\nWith --remote, <archive> is a remote name, "latest" (the newest complete one) or "all"; a delta\'s chain is\nchecked on the remote, and the .verify.json is written there (needs s3:PutObject; costs the egress of a download).')
    .action((archive: string, opts: { remote?: boolean }, command: Command) => run(command, async (s) => (await import('./commands/verify.js')).verifyCommand(s, archive, opts)));

  program.command('health')
    .description('monitoring check (monitoring-plugins exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)')
    .addOption(new Option('--max-age <hours>', 'WARNING when the newest backup is older').argParser(aboveZero).default(26))
    .addOption(new Option('--critical-age <hours>', 'CRITICAL when the newest backup is older').argParser(aboveZero).default(50))
    .addOption(new Option('--min-size-ratio <ratio>', 'WARNING when the newest is under this share of the median of the 7 before').argParser(positiveNumber).default(0.5))
    .addOption(new Option('--min-size <bytes>', 'WARNING when the newest is under this size').argParser(positiveNumber).default(1024))
    .addOption(new Option('--space-margin <factor>', 'WARNING when free space is under factor × the newest backup (CRITICAL under 1×)').argParser(positiveNumber).default(1.5))
    .option('--deep', 're-verify the newest archive in full (otherwise: its bytes against its .sha256, header, sidecars and the last verify)')
    .option('--quick', 'do not re-read the newest archive against its .sha256 (for archives too big to read every run)')
    .option('--remote', 'check the newest copy at storage.remote instead (with --deep: download it and compare its sha256)')
    .option('--metrics-file <path>', 'also write Prometheus text format there (atomically), for node_exporter\'s textfile collector')
    .addHelpText('after', '\nPrints one summary line first (FERRY OK - last backup 3 h ago, 412 MB, verified), then each check\nwith a recommendation for each problem. Re-reads the newest archive against its .sha256 and says how long\nthat took (--quick skips it); --deep also reads every entry as ferry verify does.')
    .addHelpText('after', 'Without --max-age / --min-size, MAX_AGE_HOURS and MIN_SIZE_KB (check-backup-health.sh\'s variables) are used when set.')
    .action((opts: HealthCommandOptions, command: Command) => run(command, async (s) => {
      const { healthCommand, withScriptThresholds } = await import('./commands/health.js');
      return healthCommand(s, withScriptThresholds(opts, (o) => command.getOptionValueSource(o) === 'cli', process.env));
    }, async (error, json) => (await import('./commands/health.js')).reportUnknown(error, json)));

  program.command('serve')
    .description('web dashboard of the backups: overview, list, details, trends, /metrics and a JSON API (read-only by default)')
    .option('--listen <host:port>', 'address to listen on (serve.listen; default 127.0.0.1:8086)')
    .option('--no-auth', 'no token or password (refused unless the address is loopback; actions stay off)')
    .option('--hash-password', 'read a password from stdin (or ask for it) and print its scrypt hash for serve.password_hash')
    .addHelpText('after', '\nWithout serve.password_hash, a random token is printed once at start: open the printed address, whose\n?token= signs the browser in (an HttpOnly, SameSite=Strict cookie); scripts send Authorization: Bearer <token>.\nWith serve.allow_actions: true, signed-in users can verify a backup from its page. See docs/dashboard.md.')
    .action((opts: ServeCommandOptions, command: Command) => run(command, async (s) => (await import('./commands/serve.js')).serveCommand(s, opts)));

  program.command('prune')
    .description('apply retention now (never the newest backup, nor the newest verified one)')
    .option('--dry-run', 'list what would be removed and why each backup is kept')
    .option('--remote', 'apply the same retention to the copies at storage.remote')
    .addOption(new Option('--keep-days <n>', 'keep backups younger than n days (backup.retention_days, BACKUP_RETENTION_DAYS); 0 turns the rule off').argParser(positiveInt))
    .addOption(new Option('--keep-last <n>', 'keep the newest n backups (backup.keep_last)').argParser(positiveInt))
    .addOption(new Option('--keep-daily <n>', 'keep the newest backup of each of the last n days that have one').argParser(positiveInt))
    .addOption(new Option('--keep-weekly <n>', 'likewise for the last n ISO weeks').argParser(positiveInt))
    .addOption(new Option('--keep-monthly <n>', 'likewise for the last n months').argParser(positiveInt))
    .addOption(new Option('--keep-yearly <n>', 'likewise for the last n years').argParser(positiveInt))
    .addHelpText('after', '\nA backup is kept when any rule keeps it, with the semantics of restic forget (UTC calendar periods;\nthe oldest backup is kept too while a rule has room left). With no rule at all, nothing is removed.\nFiles Ferry did not write are never touched, and links are never followed.')
    .action((opts: PruneCommandOptions, command: Command) => run(command, async (s) => (await import('./commands/prune.js')).pruneCommand(s, opts)));

  const key = program.command('key').description('age keys for encrypted archives');
  key.command('generate')
    .description('write a new age identity (mode 0600) and print its recipient for backup.encryption.recipients')
    .option('-o, --output <file>', 'where to write the identity', join(homedir(), '.config', 'ferry', 'key.txt'))
    .addHelpText('after', '\nThe identity (AGE-SECRET-KEY-1…) decrypts; the recipient (age1…) only encrypts: put the recipient in the\nproduction config and keep the identity on the machines that restore. An existing file is never overwritten.')
    .action((opts: { output: string }, command: Command) => run(command, async (s) => (await import('./commands/key.js')).keyGenerateCommand(s, opts.output)));

  const db = program.command('db').description('container start-up validation: wait for the databases, check and create what the app needs');
  db.command('check')
    .description('wait for each configured database, check required tables/collections, print counts')
    .option('--wait <duration>', 'how long to wait for each database (60s, 2m, 0 to try once)', '60s')
    .addHelpText('after', '\nExit 0 when every database answers and has its required objects (postgres.required_tables,\nmongodb.required_collections); 1 otherwise. Fit for a Docker Compose one-shot service that others\ndepend on with condition: service_completed_successfully.')
    .action((opts: { wait: string }, command: Command) => run(command, async (s) => {
      const db = await import('./commands/db.js');
      return db.dbCheckCommand(s, { wait: db.parseWait(opts.wait) });
    }));
  db.command('init')
    .description('like check, then create missing required collections and the indexes declared in mongodb.indexes')
    .option('--wait <duration>', 'how long to wait for each database (60s, 2m, 0 to try once)', '60s')
    .addHelpText('after', '\nIdempotent: a second run creates nothing. An existing index with another definition is reported\n(exit 1), never dropped. PostgreSQL tables are the app\'s migrations\' job: init only checks them.')
    .action((opts: { wait: string }, command: Command) => run(command, async (s) => {
      const db = await import('./commands/db.js');
      return db.dbInitCommand(s, { wait: db.parseWait(opts.wait) });
    }));

  program.command('version')
    .description('print the Ferry version, with the Node.js version and platform (as --version)')
    .action((_opts, command: Command) => printVersion(command.optsWithGlobals<GlobalOptions>().json));
  // --version is `ferry version`, at once, wherever --json stands on the line.
  program.on('option:version', () => {
    printVersion(process.argv.includes('--json'));
    throw new CommanderError(0, 'commander.version', versionLine());
  });
  nearMiss(program, 'check', 'ferry verify <archive> (an archive) or ferry db check (the databases)');
  nearMiss(key, 'gen', 'ferry key generate');

  program.command('demo')
    .description('quick start: throw-away PostgreSQL with sample data, backup, restore into a second database, verify, clean up')
    .addHelpText('after', '\nWith MONGODB_URL configured, the demo also seeds two databases of its own on that MongoDB\n(ferry_demo_<random> and ferry_demo_<random>_dev) and drops them at the end.')
    .action((_opts, command: Command) => run(command, async (s) => (await import('./commands/demo.js')).demoCommand(s)));

  return program;
}
