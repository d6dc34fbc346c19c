import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer as createTcpServer, type Server } from 'node:net';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

interface Received {
  from: string;
  to: string[];
  raw: string;
  user: string | undefined;
  secure: boolean;
}

const PASSWORD = 'smtp-Secret-pw-41';

/** A real SMTP server on loopback that keeps what it receives; only the right user and password get in. */
async function smtp(options: Partial<SMTPServerOptions>): Promise<{ port: number; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: false,
    disabledCommands: [],
    onAuth(auth, _session, callback) {
      if (auth.username === 'ferry' && auth.password === PASSWORD) callback(null, { user: auth.username });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      let raw = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => (raw += chunk));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          user: session.user as string | undefined,
          secure: session.secure,
        });
        callback();
      });
    },
    logger: false,
    ...options,
  });
  server.on('error', () => undefined);
  const port = await new Promise<number>((resolvePort) => server.listen(0, '127.0.0.1', () => resolvePort((server.server.address() as { port: number }).port)));
  return { port, received, close: () => new Promise((r) => server.close(() => r())) };
}

function decoded(raw: string): string {
  // Subjects with non-ASCII are encoded words; bodies may be quoted-printable.
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

let work: string;
let cert: { key: Buffer; cert: Buffer };
beforeAll(async () => {
  work = await tempDir();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(work, 'key.pem'), '-out', join(work, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  cert = { key: readFileSync(join(work, 'key.pem')), cert: readFileSync(join(work, 'cert.pem')) };
});

async function config(name: string, smtpSection: string): Promise<string> {
  const file = join(work, `${name}.yaml`);
  await writeFile(file, `notify:\n  environment: production\n  timeout_seconds: 3\n  smtp:\n${smtpSection}`, { mode: 0o600 });
  return file;
}

describe('e-mail notifications (notify.smtp) against a real SMTP server', () => {
  const servers: Array<{ close: () => Promise<void> }> = [];
  let silent: Server | undefined;
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    silent?.close();
  });

  it('STARTTLS with a self-signed certificate: a failed backup mails the error, its hint and the command to look with; the password is never printed', async () => {
    const server = await smtp({ ...cert });
    servers.push(server);
    const file = await config('starttls', `    host: 127.0.0.1\n    port: ${server.port}\n    security: starttls\n    allow_self_signed: true\n    user: ferry\n    password_env: FERRY_TEST_SMTP_PASSWORD\n    from: ferry@grimoire.example\n    to: [ops@grimoire.example, dev@grimoire.example]\n`);
    const result = await ferry(['--config', file, 'backup'], {
      DATABASE_URL: 'postgresql://app:wrong@127.0.0.1:1/legrimoire', BACKUP_DIRECTORY: join(work, 'b1'), FERRY_TEST_SMTP_PASSWORD: PASSWORD,
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/notification e-mail sent to ops@grimoire\.example, dev@grimoire\.example: \[ferry\] .* \(production\): backup FAILED \(PG_CONNECT\)/);
    expect(server.received).toHaveLength(1);
    const mail = server.received[0]!;
    expect(mail.secure).toBe(true);
    expect(mail.user).toBe('ferry');
    expect(mail.to).toEqual(['ops@grimoire.example', 'dev@grimoire.example']);
    const text = decoded(mail.raw);
    expect(text).toMatch(/^Subject: \[ferry\] .* \(production\): backup FAILED \(PG_CONNECT\)/m);
    expect(text).toMatch(/Error PG_CONNECT: cannot connect to postgres app@127\.0\.0\.1:1\/legrimoire/);
    expect(text).toMatch(/Hint: Check that the server is running/);
    expect(text).toMatch(/To look: ferry backup --verbose/);
    expect(`${result.stdout}${result.stderr}${mail.raw}`).not.toContain(PASSWORD);
    expect(mail.raw).not.toContain('wrong@');
  });

  it('implicit TLS; ferry notify test sends one message through every notifier', async () => {
    const server = await smtp({ ...cert, secure: true });
    servers.push(server);
    const passwordFile = join(work, 'smtp-password');
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    const file = await config('tls', `    host: 127.0.0.1\n    port: ${server.port}\n    security: tls\n    allow_self_signed: true\n    user: ferry\n    password_file: ${passwordFile}\n    from: ferry@grimoire.example\n    to: ops@grimoire.example\n`);
    const result = await ferry(['--config', file, 'notify', 'test'], { BACKUP_DIRECTORY: join(work, 'b2') });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('smtp: sent\n');
    expect(server.received).toHaveLength(1);
    expect(decoded(server.received[0]!.raw)).toMatch(/^Subject: \[ferry\] .*: test message/m);
    expect(server.received[0]!.secure).toBe(true);
  });

  it('a wrong password or a self-signed certificate not allowed: the backup still succeeds, the failure is logged; notify test exits 1', async () => {
    const db = await createDatabase(uniqueName('mail'));
    await query(db, 'CREATE TABLE t (v int); INSERT INTO t VALUES (1);');
    const server = await smtp({ ...cert });
    servers.push(server);
    const wrong = await config('wrong', `    host: 127.0.0.1\n    port: ${server.port}\n    allow_self_signed: true\n    user: ferry\n    password_env: FERRY_TEST_SMTP_PASSWORD\n    from: ferry@grimoire.example\n    to: ops@grimoire.example\n    events:\n      daily_digest: true\n`);
    const backedUp = await ferry(['--config', wrong, 'backup'], { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: join(work, 'b3'), FERRY_TEST_SMTP_PASSWORD: 'not-the-password' });
    expect(backedUp.code, backedUp.stderr).toBe(0);
    expect(backedUp.stderr).toMatch(/warning: notification e-mail to 127\.0\.0\.1 failed: 535 Invalid login: 535 Invalid username or password; the run's outcome is unchanged/);
    expect(server.received).toHaveLength(0);

    const untrusted = await config('untrusted', `    host: 127.0.0.1\n    port: ${server.port}\n    user: ferry\n    password_env: FERRY_TEST_SMTP_PASSWORD\n    from: ferry@grimoire.example\n    to: ops@grimoire.example\n`);
    const test = await ferry(['--config', untrusted, 'notify', 'test'], { BACKUP_DIRECTORY: join(work, 'b3'), FERRY_TEST_SMTP_PASSWORD: PASSWORD });
    expect(test.code).toBe(1);
    expect(test.stderr).toMatch(/notification e-mail to 127\.0\.0\.1 failed: .*self[- ]signed certificate/i);
    expect(test.stderr).toMatch(/^ferry: 1 of 1 notifier\(s\) failed: smtp$/m);
  });

  it('a server that never answers is bounded by notify.timeout_seconds', async () => {
    silent = createTcpServer(() => undefined);
    const port = await new Promise<number>((r) => silent!.listen(0, '127.0.0.1', () => r((silent!.address() as { port: number }).port)));
    const file = await config('silent', `    host: 127.0.0.1\n    port: ${port}\n    security: none\n    from: ferry@grimoire.example\n    to: ops@grimoire.example\n`);
    const started = Date.now();
    const test = await ferry(['--config', file, 'notify', 'test'], { BACKUP_DIRECTORY: join(work, 'b4') });
    expect(test.code).toBe(1);
    expect(test.stderr).toMatch(/notification e-mail to 127\.0\.0\.1 failed: .*(Greeting never received|no answer within 3 s|timeout)/i);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
