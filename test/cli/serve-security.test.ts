import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, ferry, FERRY_BIN } from '../support/cli.js';
import { createDatabase, pgServer, query, uniqueName } from '../support/pg.js';
import { S3TestServer } from '../support/s3/server.js';
import { startServe, type RunningServe } from '../support/serve.js';
import { missing } from '../support/needs.js';
import { tempDir } from '../support/tmp.js';

/**
 * ferry serve's promises over plain HTTP: the refusal to serve unprotected off loopback, the token
 * and password sign-in, CSRF on POST, no configured secret in any page or API response, and a JSON
 * API that is the CLI's --json, checked against docs/json/ and against the CLI's own output.
 */
const SCHEMA_DIR = fileURLToPath(new URL('../../docs/json/', import.meta.url));
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
for (const file of readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'))) ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')) as object);

function valid(name: string, document: unknown): void {
  const validate = ajv.getSchema(`${name}.schema.json`);
  if (validate === undefined) throw new Error(`docs/json/${name}.schema.json is missing`);
  expect(validate(document), `${name}: ${JSON.stringify(validate.errors, null, 2)}`).toBe(true);
}

const PG_PASSWORD = 'Dash-Pw/with:odd@chars 42';
const S3_SECRET = 'dashS3SecretAccessKey0123456789abcdef';
const WEBHOOK = 'https://hooks.example.com/services/T0DASH/B0DASH/hookSecretPart987';

let work: string;
let s3: S3TestServer;
let env: Record<string, string>;
let config: string;
let identity: string;
let name: string;
let serve: RunningServe;
let cookie: string;

/** Everything a response could leak, in the forms it could take. */
let secrets: string[];

const get = (path: string, headers: Record<string, string> = {}) => fetch(new URL(path, serve.base), { headers: { cookie, ...headers }, redirect: 'manual' });

beforeAll(async () => {
  work = await tempDir();
  s3 = new S3TestServer(await tempDir('ferry-s3-'), { dashkey: S3_SECRET });
  await s3.start();
  const user = uniqueName('dash_user');
  const db = await createDatabase(uniqueName('dash_sec'));
  await query('postgres', `CREATE ROLE ${user} LOGIN SUPERUSER PASSWORD '${PG_PASSWORD}'`);
  await query(db, "CREATE TABLE notes (id int); INSERT INTO notes SELECT generate_series(1, 10);");
  identity = join(work, 'age-identity.txt');
  const key = await ferry(['key', 'generate', '-o', identity, '--json'], {});
  expect(key.code, key.stderr).toBe(0);
  const recipient = (JSON.parse(key.stdout) as { recipient: string }).recipient;
  config = join(work, 'ferry.config.yaml');
  writeFileSync(config, [
    'backup:', `  directory: ${join(work, 'backups')}`, '  encryption:', `    recipients: [${recipient}]`,
    'storage:', '  remote: s3://ferry/dash', `  endpoint: ${s3.endpoint}`, '  force_path_style: true',
    'notify:', '  on_failure:', `    webhook: ${WEBHOOK}`,
    'serve:', '  allow_actions: true',
    '',
  ].join('\n'));
  env = {
    DATABASE_URL: `postgresql://${user}:${encodeURIComponent(PG_PASSWORD)}@127.0.0.1:${pgServer().port}/${db}`,
    AWS_ACCESS_KEY_ID: 'dashkey', AWS_SECRET_ACCESS_KEY: S3_SECRET, AWS_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
    FERRY_AGE_IDENTITY_FILE: identity,
  };
  const made = await ferry(['--config', config, 'backup'], env);
  expect(made.code, made.stderr).toBe(0);
  name = readdirSync(join(work, 'backups')).find((n) => /^backup_\d{8}_\d{6}\.tar\.gz\.age$/.test(n))!;
  // A tool's message that slipped into a manifest with the connection URL in it: the page shows the
  // warning, and the redactor must take the password out on the way.
  const sidecar = join(work, 'backups', `${name}.manifest.json`);
  const manifest = JSON.parse(readFileSync(sidecar, 'utf8')) as { stores: { postgres: { warnings: string[] } } };
  manifest.stores.postgres.warnings.push(`pg_dump said: connection to ${env.DATABASE_URL} was slow`);
  writeFileSync(sidecar, JSON.stringify(manifest, null, 2));
  const ageKey = readFileSync(identity, 'utf8').match(/AGE-SECRET-KEY-1\w+/)?.[0];
  expect(ageKey).toBeDefined();
  secrets = [PG_PASSWORD, encodeURIComponent(PG_PASSWORD), 'Dash-Pw', S3_SECRET, WEBHOOK, 'hookSecretPart987', ageKey!, identity];
  serve = await startServe(['--config', config], env);
}, 120_000);

afterAll(async () => {
  await serve?.stop();
  await s3?.stop();
});

describe('ferry serve: who may look', () => {
  it('refuses a non-loopback address without authentication, in one line, exit 3', async () => {
    const refused = await ferry(['--config', config, 'serve', '--listen', '0.0.0.0:0', '--no-auth'], env);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/^ferry: refusing to serve the backups on 0\.0\.0\.0 without authentication\n/);
    expect(refused.stdout).toBe('');
  });

  it('token: 401 without it, a Strict HttpOnly session from ?token=, Bearer for scripts; POST needs the CSRF token', async () => {
    expect(serve.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    for (const path of ['/', '/backups', '/api/list', '/metrics', `/backups/${name}`]) {
      const denied = await fetch(new URL(path, serve.base), { redirect: 'manual' });
      expect(denied.status, path).toBe(401);
      expect(await denied.text()).not.toContain(name);
    }
    expect((await fetch(new URL(`/?token=${'x'.repeat(32)}`, serve.base), { redirect: 'manual' })).status).toBe(401);
    const signIn = await fetch(new URL(`/backups?token=${serve.token}`, serve.base), { redirect: 'manual' });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.get('location')).toBe('/backups');
    const setCookie = signIn.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^ferry_session=[A-Za-z0-9_-]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Strict$/);
    cookie = setCookie.split(';')[0]!;
    const page = await get('/backups');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    expect(await page.text()).toContain(name);
    expect((await fetch(new URL('/api/list', serve.base), { headers: { authorization: `Bearer ${serve.token}` } })).status).toBe(200);
    expect((await fetch(new URL('/healthz', serve.base))).status).toBe(200);

    const csrf = /<meta name="ferry-csrf" content="([^"]+)">/.exec(await (await get(`/backups/${name}`)).text())?.[1];
    expect(csrf).toBeDefined();
    const post = (headers: Record<string, string>) => fetch(new URL(`/backups/${name}/verify`, serve.base), { method: 'POST', headers: { cookie, ...headers }, redirect: 'manual' });
    expect((await post({})).status).toBe(403);
    expect((await post({ 'x-ferry-csrf': 'wrong'.padEnd(csrf!.length, 'x') })).status).toBe(403);
    // The token alone (no session, so no CSRF token) cannot start anything either.
    expect((await fetch(new URL(`/backups/${name}/verify`, serve.base), { method: 'POST', headers: { authorization: `Bearer ${serve.token}` } })).status).toBe(403);
    const started = await post({ 'x-ferry-csrf': csrf! });
    expect(started.status).toBe(202);
    const job = (await started.json()) as { id: string };
    let state: { state: string; result: unknown } = { state: 'running', result: null };
    while (state.state === 'running') {
      await new Promise((resolve) => setTimeout(resolve, 200));
      state = (await (await get(`/api/jobs/${job.id}`)).json()) as typeof state;
    }
    expect(state.state).toBe('done');
    valid('verify', { schemaVersion: 1, ...(state.result as object) });
    expect((state.result as { ok: boolean }).ok).toBe(true);
  });

  it('password: a sign-in form with its own CSRF token, a wrong password refused, the right one signs in', async () => {
    const hashed = spawnSync(process.execPath, [FERRY_BIN, 'serve', '--hash-password'], { input: 'correct horse battery\n', env: cleanEnv({}), encoding: 'utf8' });
    expect(hashed.status, hashed.stderr).toBe(0);
    const hash = hashed.stdout.trim();
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    const passwordConfig = join(work, 'password.yaml');
    writeFileSync(passwordConfig, `backup:\n  directory: ${join(work, 'backups')}\nserve:\n  password_hash: "${hash}"\n`);
    const server = await startServe(['--config', passwordConfig], {});
    try {
      expect(server.token).toBeUndefined();
      const form = await fetch(new URL('/', server.base));
      expect(form.status).toBe(401);
      const formCookie = (form.headers.get('set-cookie') ?? '').split(';')[0]!;
      const formToken = /name="csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
      const login = (body: Record<string, string>, headers: Record<string, string>) => fetch(new URL('/login', server.base), {
        method: 'POST', body: new URLSearchParams(body), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, redirect: 'manual',
      });
      expect((await login({ password: 'correct horse battery' }, { cookie: formCookie })).status).toBe(403);
      const wrong = await login({ csrf: formToken, password: 'wrong horse battery' }, { cookie: formCookie });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).toContain('That password is not the one configured.');
      // Each form's token is good once: the wrong attempt used it.
      expect((await login({ csrf: formToken, password: 'correct horse battery' }, { cookie: formCookie })).status).toBe(403);
      const again = await fetch(new URL('/login', server.base));
      const againToken = /name="csrf" value="([^"]+)"/.exec(await again.text())?.[1] ?? '';
      const ok = await login({ csrf: againToken, password: 'correct horse battery' }, { cookie: (again.headers.get('set-cookie') ?? '').split(';')[0]! });
      expect(ok.status).toBe(303);
      const session = (ok.headers.get('set-cookie') ?? '').split(';')[0]!;
      expect(ok.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/);
      expect((await fetch(new URL('/backups', server.base), { headers: { cookie: session } })).status).toBe(200);
      const basic = Buffer.from('any:correct horse battery').toString('base64');
      expect((await fetch(new URL('/metrics', server.base), { headers: { authorization: `Basic ${basic}` } })).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe('ferry serve: what it shows', () => {
  it('no configured secret in any page or API response; the planted one is masked where it shows', async () => {
    const pages = ['/', '/backups', '/backups?page=2', `/backups/${name}`, '/backups/backup_19990101_000000.tar.gz', '/trends', '/api/list', '/api/list?remote=1',
      '/api/health', '/api/health?quick=1', '/api/health?remote=1', `/api/inspect/${name}`, '/api/inspect/nothing-here', '/api/trends',
      '/metrics', '/metrics?remote=1', '/healthz', '/assets/dashboard.js', '/assets/dashboard.css', '/no-such-page'];
    const jobs = [...(await (await get(`/backups/${name}`)).text()).matchAll(/data-job="([^"]*)"/g)].map((m) => m[1]).filter((id) => id !== '');
    for (const path of [...pages, ...jobs.map((id) => `/api/jobs/${id}`)]) {
      const response = await get(path);
      const body = await response.text();
      expect(response.status, `${path}: ${body}`).toBeLessThan(500);
      for (const secret of secrets) expect(body.includes(secret), `${secret} in ${path}`).toBe(false);
    }
    const detail = await (await get(`/backups/${name}`)).text();
    expect(detail).toMatch(/warning: pg_dump said: connection to postgresql:\/\/dash_user_\w+:\*\*\*@127\.0\.0\.1:\d+\/dash_sec_\w+ was slow/);
    expect(detail).toContain('<dt>Encrypted</dt><dd>yes (age)</dd>');
  });

  it('the by-hand restore of an encrypted backup, as its page shows it, decrypts and unpacks it', async (context) => {
    if (missing('age (Debian package age)', spawnSync('age', ['--version']).status === 0)) {
      context.skip('age is not installed');
      return;
    }
    const detail = await (await get(`/backups/${name}`)).text();
    const shown = (/<code id="cmd-hand">([\s\S]*?)<\/code>/.exec(detail)?.[1] ?? '').replaceAll('&amp;', '&').split('\n');
    const decrypted = name.replace(/\.age$/, '');
    expect(shown[0]).toBe(`age -d -i ~/.config/ferry/key.txt -o ${decrypted} ${name}`);
    expect(shown[1]).toBe(`mkdir restore && tar -xzf ${decrypted} -C restore && cd restore`);
    const steps = [shown[0]!.replace('~/.config/ferry/key.txt', identity), shown[1]!].join(' && ');
    // In a folder of its own, as on a laptop the archive was copied to.
    const laptop = await tempDir();
    copyFileSync(join(work, 'backups', name), join(laptop, name));
    const ran = spawnSync('bash', ['-c', steps], { cwd: laptop, encoding: 'utf8' });
    expect(ran.status, ran.stderr).toBe(0);
    expect(readFileSync(join(laptop, 'restore', 'postgresql', 'database.sql'), 'utf8')).toContain('CREATE TABLE public.notes');
  });

  it('the JSON API is the CLI\'s --json: the same documents, valid against docs/json/', async () => {
    const api = async (path: string) => (await (await get(path)).json()) as Record<string, unknown>;
    const cli = async (...args: string[]) => JSON.parse((await ferry(['--config', config, '--json', ...args], env)).stdout) as Record<string, unknown>;
    const withoutAges = (document: Record<string, unknown>) => JSON.parse(JSON.stringify(document, (key, value: unknown) => (key === 'ageSeconds' ? 0 : value))) as unknown;

    const listed = await api('/api/list');
    valid('list', listed);
    expect(withoutAges(listed)).toEqual(withoutAges(await cli('list')));
    const remote = await api('/api/list?remote=1');
    valid('list', remote);
    expect(withoutAges(remote)).toEqual(withoutAges(await cli('list', '--remote')));
    expect((remote.backups as Array<{ name: string }>).map((b) => b.name)).toEqual([name]);

    const inspected = await api(`/api/inspect/${name}`);
    valid('inspect', inspected);
    expect(inspected).toEqual(await cli('inspect', name));
    const missing = await get('/api/inspect/backup_19990101_000000.tar.gz');
    expect(missing.status).toBe(404);
    valid('error', await missing.json());

    for (const [path, args] of [['/api/health?quick=1', ['--quick']], ['/api/health?remote=1', ['--remote']]] as const) {
      const health = await api(path);
      valid('health', health);
      const fromCli = await cli('health', ...args) as { status: string; checks: Array<{ name: string; status: string }> };
      expect(health.status, path).toBe(fromCli.status);
      expect((health.checks as typeof fromCli.checks).map((c) => [c.name, c.status])).toEqual(fromCli.checks.map((c) => [c.name, c.status]));
    }

    const metrics = await (await get('/metrics')).text();
    expect(metrics).toMatch(/^ferry_backup_archives\{location="local"\} 1$/m);
    expect(metrics).toMatch(/^ferry_health_status\{location="local"\} \d$/m);
    const backupsPage = await (await get('/backups')).text();
    expect(backupsPage).toMatch(new RegExp(`${name.replace(/\./g, '\\.')}.*<td>yes</td><td>yes</td>\\s*</tr>`, 's'));
  });
});
