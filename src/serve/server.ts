import { serve, type ServerType } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { compress } from 'hono/compress';
import { getCookie, setCookie } from 'hono/cookie';
import type { AddressInfo } from 'node:net';
import { FerryError, isFerryError } from '../errors/index.js';
import type { OperationContext } from '../ops/context.js';
import { apiRoutes, errorResponse, jobJson, jsonResponse } from './api.js';
import { asset } from './assets.js';
import { checkPassword, randomSecret, sameSecret, SESSION_COOKIE, Sessions, type AuthMode } from './auth.js';
import { BackupCache } from './backup-cache.js';
import { backupDetail, locationHealth, locations, nextScheduledRun, remoteNames, trends, type TrendPoint } from './data.js';
import { VerifyJobs } from './jobs.js';
import { backupsPage, detailPage, loginPage, messagePage, overviewPage, trendsPage, type PageContext } from './pages.js';

export interface ServeOptions {
  auth: AuthMode;
  /** serve.allow_actions: verify from the page, for signed-in users only. */
  allowActions: boolean;
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const LOGIN_COOKIE = 'ferry_login';
const CSRF_HEADER = 'x-ferry-csrf';
const MAX_LOGIN_FORMS = 1000;

/** The dashboard as a fetch handler: pages, the JSON API, /metrics and /healthz, behind its authentication. */
export function dashboardApp(ctx: OperationContext, options: ServeOptions): Hono {
  const app = new Hono();
  const sessions = new Sessions();
  const cache = new BackupCache(ctx);
  // The overview's health check is kept ten seconds (a verify from the page clears it): the page is
  // reloaded often, and each check lists the directory and reads the newest backups' sidecars.
  const overviewHealth = new Map(locations(ctx).map((location) => [location, memo(10_000, () => locationHealth(ctx, location, { quick: true }))]));
  // Read while the server starts, so the first visitor does not wait for a thousand sidecars.
  cache.list().catch((error: unknown) => ctx.log.warn(`cannot list ${ctx.config.backup.directory}: ${(error as Error).message}`));
  const nextRun = memo(60_000, () => nextScheduledRun(ctx.signal));
  const jobs = new VerifyJobs(ctx, () => { for (const m of overviewHealth.values()) m.clear(); });
  const trendPoints = () => cache.derive<TrendPoint[]>('trends', (listed) => trends(ctx, listed));
  // The remote is asked at most once a minute which copies it holds: each ask is a request to S3.
  const remoteCopies = memo(60_000, () => remoteNames(ctx));
  const loginForms = new Set<string>();
  const { auth } = options;

  const secure = (c: Context) => new URL(c.req.url).protocol === 'https:';
  const startSession = (c: Context) => {
    const { id } = sessions.open();
    setCookie(c, SESSION_COOKIE, id, { httpOnly: true, sameSite: 'Strict', path: '/', secure: secure(c), maxAge: Sessions.maxAgeSeconds });
  };
  const csrfOf = (c: Context) => sessions.csrfOf(getCookie(c, SESSION_COOKIE));

  app.use('*', compress());
  // Every response: no inline script or style, no other origin, no referrer (a token may be in the URL).
  // Every text response also goes through the redactor the CLI uses, whatever produced it.
  app.use('*', async (c, next) => {
    await next();
    c.res.headers.set('content-security-policy', CSP);
    c.res.headers.set('x-content-type-options', 'nosniff');
    c.res.headers.set('referrer-policy', 'no-referrer');
    c.res.headers.set('x-frame-options', 'DENY');
    if (!c.req.path.startsWith('/assets/')) {
      const type = c.res.headers.get('content-type') ?? '';
      if (/^(text\/|application\/json)/.test(type)) {
        const body = ctx.redactor.redact(await c.res.text());
        const headers = new Headers(c.res.headers);
        headers.delete('content-length');
        c.res = new Response(body, { status: c.res.status, headers });
      }
      c.res.headers.set('cache-control', 'no-store');
    }
  });

  // Without a token or password, only a loopback name may be asked for: a web page elsewhere that
  // points its own name at 127.0.0.1 (DNS rebinding) must not read the dashboard through the browser.
  if (auth.kind === 'none') {
    app.use('*', async (c, next) => {
      const host = (c.req.header('host') ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
      if (!isLoopback(host)) return c.text(`forbidden: without authentication only http://127.0.0.1 or http://localhost is served, not ${host}\n`, 403);
      return next();
    });
  }

  app.get('/healthz', (c) => c.text('ok\n'));
  app.get('/assets/:name', async (c) => {
    const found = await asset(c.req.param('name'));
    if (found === undefined) return c.text('not found\n', 404);
    return new Response(new Uint8Array(found.body), { headers: { 'content-type': found.type, 'cache-control': 'public, max-age=3600' } });
  });

  if (auth.kind === 'password') {
    const showLogin = (c: Context, failed: boolean, status: 200 | 401) => {
      const form = randomSecret();
      loginForms.add(form);
      // Anyone can ask for the form: the oldest unused ones are forgotten rather than piling up.
      for (const stale of [...loginForms].slice(0, Math.max(0, loginForms.size - MAX_LOGIN_FORMS))) loginForms.delete(stale);
      setCookie(c, LOGIN_COOKIE, form, { httpOnly: true, sameSite: 'Strict', path: '/login', secure: secure(c) });
      return c.html(loginPage(form, failed), status);
    };
    app.get('/login', (c) => showLogin(c, false, 200));
    app.post('/login', async (c) => {
      const form = await c.req.parseBody();
      const given = typeof form.csrf === 'string' ? form.csrf : '';
      const cookie = getCookie(c, LOGIN_COOKIE) ?? '';
      if (given === '' || !sameSecret(given, cookie) || !loginForms.delete(given)) return c.text('forbidden: the sign-in form is stale or was not sent from this site; reload it\n', 403);
      if (typeof form.password !== 'string' || !await checkPassword(form.password, auth.hash)) {
        // One failure costs a second: guessing is slow, and no account is ever locked out.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        return showLogin(c, true, 401);
      }
      startSession(c);
      return c.redirect('/', 303);
    });
    app.use('*', async (c, next) => {
      if (csrfOf(c) !== undefined) return next();
      const basic = /^Basic (.+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
      const password = basic === undefined ? undefined : Buffer.from(basic, 'base64').toString('utf8').split(':').slice(1).join(':');
      if (password !== undefined && await checkPassword(password, auth.hash)) return next();
      if (c.req.method === 'GET' && !c.req.path.startsWith('/api/') && c.req.path !== '/metrics') return showLogin(c, false, 401);
      return c.text('unauthorized: sign in at /login, or send the password with HTTP basic authentication\n', 401, { 'www-authenticate': 'Basic realm="ferry"' });
    });
  } else if (auth.kind === 'token') {
    app.use('*', async (c, next) => {
      const query = c.req.query('token');
      if (query !== undefined && sameSecret(query, auth.token)) {
        startSession(c);
        const url = new URL(c.req.url);
        url.searchParams.delete('token');
        return c.redirect(`${url.pathname}${url.search}`, 303);
      }
      if (csrfOf(c) !== undefined) return next();
      const bearer = /^Bearer (.+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
      if (bearer !== undefined && sameSecret(bearer, auth.token)) return next();
      return c.text('unauthorized: open the address with ?token= that ferry serve printed when it started, or send Authorization: Bearer <token>\n', 401);
    });
  }

  // Any POST needs the session's CSRF token, in the form or the X-Ferry-CSRF header.
  app.use('*', async (c, next) => {
    if (c.req.method !== 'POST' || c.req.path === '/login') return next();
    const expected = csrfOf(c);
    let given = c.req.header(CSRF_HEADER);
    if (given === undefined && (c.req.header('content-type') ?? '').startsWith('application/x-www-form-urlencoded')) {
      const field = (await c.req.parseBody()).csrf;
      given = typeof field === 'string' ? field : undefined;
    }
    if (expected === undefined || given === undefined || !sameSecret(given, expected)) return c.text('forbidden: missing or wrong CSRF token; reload the page\n', 403);
    return next();
  });

  const pageContext = (c: Context): PageContext => {
    const csrf = csrfOf(c);
    return { csrf, actions: options.allowActions && auth.kind !== 'none' && csrf !== undefined, now: ctx.now?.() ?? new Date() };
  };

  app.get('/', async (c) => {
    const healths = await Promise.all([...overviewHealth.values()].map((m) => m.get()));
    return c.html(overviewPage(pageContext(c), healths, await cache.list(), await nextRun.get()));
  });
  app.get('/backups', async (c) => c.html(backupsPage(pageContext(c), await cache.list(), await remoteCopies.get(), Number(c.req.query('page') ?? '1') || 1)));
  app.get('/backups/:name', async (c) => {
    try {
      const detail = await backupDetail(ctx, c.req.param('name'), await cache.list());
      const jobId = c.req.query('job');
      return c.html(detailPage(pageContext(c), detail, jobId === undefined ? undefined : jobs.get(jobId)));
    } catch (error) {
      if (!isFerryError(error)) throw error;
      return c.html(messagePage(pageContext(c), 'Not found', `${error.message}. ${error.hint ?? ''}`), error.code === 'ARCHIVE_NOT_FOUND' ? 404 : 500);
    }
  });
  app.get('/trends', async (c) => {
    const points = await trendPoints();
    const objects = [...new Set(points.flatMap((p) => Object.entries(p.counts).flatMap(([store, counts]) => Object.keys(counts).map((o) => `${store} ${o}`))))].sort();
    return c.html(trendsPage(pageContext(c), objects));
  });

  // Verify now: a JSON client gets the job, a plain form is sent back to the page, which polls it.
  app.post('/backups/:name/verify', (c) => {
    if (!pageContext(c).actions) return c.text('forbidden: actions need serve.allow_actions: true and a signed-in user\n', 403);
    const name = c.req.param('name');
    const job = jobs.running() ?? jobs.start(name);
    if (c.req.header(CSRF_HEADER) !== undefined) return jsonResponse(jobJson(job), job.backup === name ? 202 : 409);
    return c.redirect(`/backups/${encodeURIComponent(job.backup)}?job=${job.id}`, 303);
  });

  apiRoutes(app, ctx, jobs, trendPoints);

  app.notFound((c) => c.text('not found\n', 404));
  app.onError((error, c) => {
    if (isFerryError(error)) return errorResponse(error);
    ctx.log.warn(`${c.req.method} ${c.req.path} failed: ${error.stack ?? error.message}`);
    return c.text('internal error: see the server log\n', 500);
  });
  return app;
}

/** The promise of `compute`, shared for `ms` (a failed one is not kept). */
function memo<T>(ms: number, compute: () => Promise<T>): { get(): Promise<T>; clear(): void } {
  let kept: { at: number; value: Promise<T> } | undefined;
  return {
    get() {
      if (kept === undefined || Date.now() - kept.at > ms) {
        const value = compute();
        kept = { at: Date.now(), value };
        value.catch(() => { kept = undefined; });
      }
      return kept.value;
    },
    clear() { kept = undefined; },
  };
}

/** host:port, with [v6]:port for IPv6; a usage error otherwise. */
export function parseListen(listen: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen.trim());
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new FerryError('USAGE', `--listen ${listen}: expected host:port, e.g. 127.0.0.1:8086 or [::1]:8086`, { hint: 'Give an address and a port, e.g. --listen 127.0.0.1:8086.' });
  }
  return { host: (match[1] ?? match[2]) as string, port };
}

/** Loopback addresses only: a name such as localhost could resolve elsewhere, so it is taken at its word only when it is localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function listen(app: Hono, host: string, port: number): Promise<{ server: ServerType; port: number }> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info: AddressInfo) => resolve({ server, port: info.port }));
    server.once('error', (cause: NodeJS.ErrnoException) => reject(new FerryError('SERVE_LISTEN', `cannot listen on ${host}:${port}: ${cause.code ?? cause.message}`, {
      hint: cause.code === 'EADDRINUSE' ? 'Another program uses that port: choose another with --listen.' : 'Check the address given with --listen (or serve.listen).',
      cause,
    })));
  });
}
