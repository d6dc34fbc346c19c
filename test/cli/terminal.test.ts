import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanEnv, ferry, FERRY_BIN } from '../support/cli.js';
import { missing } from '../support/needs.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

/**
 * Runs ferry on a pseudo-terminal (util-linux `script`) and returns everything the terminal got,
 * escape sequences included. `interrupt` types Ctrl-C once it returns true for the output so far.
 */
function onTerminal(args: string[], env: Record<string, string>, interrupt?: (output: string) => boolean): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun) => {
    const command = [process.execPath, FERRY_BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: cleanEnv({ COLUMNS: '200', ...env }), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let typed = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (interrupt !== undefined && !typed && interrupt(output)) {
        typed = true;
        child.stdin.write('\x03');
      }
    });
    child.on('close', (code) => resolveRun({ code, output }));
  });
}

/** What the terminal showed as separate drawings: each \r (or newline) starts a new one. */
function drawings(output: string): string[] {
  // eslint-disable-next-line no-control-regex
  return output.split(/\r|\n/).map((d) => d.replace(/\x1b\[2K/g, '')).filter((d) => d.trim() !== '');
}

/** A database whose dump lasts a few seconds here: a small table, then a large one of random-looking rows. */
async function largeDatabase(): Promise<string> {
  const db = await createDatabase(uniqueName('large'));
  await query(db, `CREATE TABLE a_small (id int PRIMARY KEY, name text);
    INSERT INTO a_small SELECT i, 'n' || i FROM generate_series(1, 100) i;
    CREATE TABLE big (id int, a text, b text);
    INSERT INTO big SELECT i, md5(i::text), md5((i * 7)::text) FROM generate_series(1, 400000) i;`);
  return db;
}

const hasScript = spawnSync('script', ['--version']).status === 0;

describe.skipIf(missing('script (Debian package bsdutils)', hasScript))('the terminal shows the work', () => {
  it('a backup redraws one line with bytes, rate, percent, ETA and the table being dumped, then names the silent phases', async () => {
    const work = await tempDir();
    const db = await largeDatabase();
    const env = { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: join(work, 'b') };
    const { code, output } = await onTerminal(['backup'], env);
    expect(code, output).toBe(0);
    const lines = drawings(output);
    const dumping = lines.filter((l) => l.startsWith('pg_dump postgres ') && /\d+(\.\d)? [KMG]?B\s+\d+(\.\d)? [KMG]?B\/s\s+~\d+%/.test(l));
    expect(dumping.length, output).toBeGreaterThan(1);
    expect(new Set(dumping).size, 'the progress line changes').toBeGreaterThan(1);
    const withTable = dumping.filter((l) => /table public\.big/.test(l));
    expect(withTable.length, output).toBeGreaterThan(0);
    expect(withTable.some((l) => /ETA \d+/.test(l)), output).toBe(true);
    expect(lines.some((l) => l.startsWith('finishing the archive')), output).toBe(true);
    expect(output).toMatch(/database\.sql [\d.]+ [KMG]?B, 2 tables/);
    // One progress line for the closing note of the issue.
    console.log(`captured progress line: ${withTable.at(-1) ?? ''}`);

    // The second backup estimates from the first one's figures: its percent reaches near 100.
    const again = await onTerminal(['backup'], env);
    expect(again.code, again.output).toBe(0);
    const percents = drawings(again.output).filter((l) => l.startsWith('pg_dump postgres ')).map((l) => Number(/~(\d+)%/.exec(l)?.[1] ?? -1));
    expect(Math.max(...percents), again.output).toBeGreaterThanOrEqual(50);

    // Restore: percent of the archive read, then the named PostgreSQL phases.
    const restored = await onTerminal(['restore', 'latest', '--yes', '--to-db', uniqueName('large_dst')], env);
    expect(restored.code, restored.output).toBe(0);
    const restoring = drawings(restored.output);
    expect(restoring.some((l) => /^reading .*backup_\d{8}_\d{6}\.tar\.gz {2}[\d.]+ [KMG]?B {2}[\d.]+ [KMG]?B\/s {2}\d+%/.test(l)), restored.output).toBe(true);
    for (const phase of ['loading into PostgreSQL', 'checking counts', 'swapping']) expect(restoring.some((l) => l.startsWith(phase)), phase).toBe(true);

    // Ctrl-C during the dump: the message starts on a clean line, never glued to the progress text.
    const stopped = await onTerminal(['backup'], env, (text) => /table public\.big/.test(text));
    expect(stopped.code, stopped.output).toBe(130);
    // eslint-disable-next-line no-control-regex
    expect(stopped.output).toMatch(/\r\x1b\[2K(interrupted: stopping|ferry: interrupted)/);
    // eslint-disable-next-line no-control-regex
    expect(stopped.output.replace(/\r\x1b\[2K/g, '\n')).toMatch(/\nferry: interrupted/);
  });

  it('health honours NO_COLOR and FORCE_COLOR', async () => {
    const work = await tempDir();
    mkdirSync(join(work, 'up'));
    writeFileSync(join(work, 'up', 'a.txt'), 'a');
    const env = { UPLOADS_DIR: join(work, 'up'), BACKUP_DIRECTORY: join(work, 'b') };
    expect((await ferry(['backup'], env)).code).toBe(0);
    // eslint-disable-next-line no-control-regex
    const colour = /\x1b\[3\dm/;
    const coloured = await onTerminal(['health'], env);
    expect(coloured.output).toMatch(/FERRY/);
    expect(coloured.output).toMatch(colour);
    const plain = await onTerminal(['health'], { ...env, NO_COLOR: '1' });
    expect(plain.output).toMatch(/FERRY/);
    expect(plain.output).not.toMatch(colour);
    const forced = await ferry(['health'], { ...env, FORCE_COLOR: '1' });
    expect(forced.stdout).toMatch(colour);
    expect((await ferry(['health'], env)).stdout).not.toMatch(colour);
  });
});

describe('the command line', () => {
  it('--identity takes one file per flag and never swallows the command', async () => {
    const work = await tempDir();
    const result = await ferry(['--identity', join(work, 'missing-key.txt'), 'verify', 'latest'], { BACKUP_DIRECTORY: join(work, 'b') });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/cannot read identity file .*missing-key\.txt/);
    expect(result.stdout).not.toMatch(/Usage:/);
  });

  it('numbers are validated: --jobs 0, --max-age 0 and 1e1 are usage errors', async () => {
    for (const args of [['restore', 'latest', '--jobs', '0'], ['restore', 'latest', '--jobs', '1e1'], ['health', '--max-age', '0'], ['prune', '--keep-last', '-1']]) {
      const result = await ferry(args, {});
      expect(result.code, args.join(' ')).toBe(3);
      expect(result.stderr, args.join(' ')).toMatch(/^ferry: .*(is invalid|unknown option).*\nhint: /m);
    }
  });

  it('a command line the parser refuses is one error in the usual form, and with --json only the JSON document', async () => {
    const unknown = await ferry(['restore', 'latest', '--yes', '--frobnicate'], {});
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toBe("ferry: unknown option '--frobnicate'\nhint: ferry --help lists the commands; ferry <command> --help lists its options.\n");
    const typo = await ferry(['bakup'], {});
    expect(typo.stderr).toBe("ferry: unknown command 'bakup'\nhint: Did you mean backup?\n");
    const json = await ferry(['--json', 'list', '--bogus'], {});
    expect(json.code).toBe(3);
    expect(json.stderr).toBe('');
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'USAGE', message: "unknown option '--bogus'" } });
  });

  it('ferry version is --version: name, version, Node version and platform', async () => {
    const long = await ferry(['--version'], {});
    const command = await ferry(['version'], {});
    expect(long.code).toBe(0);
    expect(command.stdout).toBe(long.stdout);
    expect(command.stdout).toMatch(new RegExp(`^ferry \\d+\\.\\d+\\.\\d+ \\(node ${process.version.replace(/\./g, '\\.')}, ${process.platform}-${process.arch}\\)\\n$`));
    expect(command.stderr).not.toMatch(/verify/);
  });

  it('subcommand help lists the global options', async () => {
    const help = await ferry(['backup', '--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Global Options:[\s\S]*--config <file>[\s\S]*--json[\s\S]*--identity <file>/);
  });

  it('counts take the singular for one', async () => {
    const work = await tempDir();
    const db = await createDatabase(uniqueName('one'));
    await query(db, 'CREATE TABLE only_one (id int); INSERT INTO only_one VALUES (1);');
    const made = await ferry(['backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: join(work, 'b') });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toMatch(/postgres: 1 object, /);
    expect(made.stderr).toMatch(/database\.sql [\d.]+ [KMG]?B, 1 table$/m);
  });
});

describe('a reader that stops early', () => {
  it('ferry --help into a closed pipe exits 0 without a stack trace, as `ferry restore --help | head` does', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolveRun) => {
      const child = spawn(process.execPath, [FERRY_BIN, 'restore', '--help'], { env: cleanEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
      // The read end is closed before ferry writes: its first write meets EPIPE.
      child.stdout.destroy();
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('close', (code) => resolveRun({ code, stderr }));
    });
    expect(result.stderr).not.toMatch(/EPIPE|Unhandled|at /);
    expect(result.code).toBe(0);
  });
});
