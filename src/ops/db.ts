import { FerryError, isFerryError, throwIfAborted } from '../errors/index.js';
import { storesFromConfig, type DatabaseCheck, type DatabaseInit, type Store } from '../stores/index.js';
import type { OperationContext } from './context.js';

export interface DbCheckOptions {
  /** How long to wait for each database to answer; 0 tries once. */
  waitSeconds: number;
}

export interface StoreCheck extends DatabaseCheck {
  kind: string;
  waitedSeconds: number;
}

function databaseStores(ctx: OperationContext): Store[] {
  const stores = storesFromConfig(ctx.config).filter((s) => s.checkDatabase !== undefined);
  if (stores.length === 0) {
    throw new FerryError('NO_STORES', 'no database is configured to check', { hint: 'Set DATABASE_URL and/or MONGODB_URL, or the postgres/mongodb sections of the config file.' });
  }
  return stores;
}

const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolveSleep) => {
  const timer = setTimeout(resolveSleep, ms);
  signal.addEventListener('abort', () => {
    clearTimeout(timer);
    resolveSleep();
  }, { once: true });
});

/** Tries until the database answers or the wait is over, backing off from 0.5 s to 5 s between tries. */
async function waitForDatabase(store: Store, waitSeconds: number, ctx: OperationContext): Promise<StoreCheck> {
  const started = Date.now();
  const deadline = started + waitSeconds * 1000;
  let delay = 500;
  let attempts = 0;
  for (;;) {
    throwIfAborted(ctx.signal);
    attempts++;
    try {
      const remaining = Math.max(1, (deadline - Date.now()) / 1000);
      const check = await (store.checkDatabase as (timeout: number) => Promise<DatabaseCheck>).call(store, remaining);
      return { kind: store.kind, waitedSeconds: (Date.now() - started) / 1000, ...check };
    } catch (error) {
      if (!isFerryError(error) || error.code === 'INTERRUPTED') throw error;
      if (Date.now() + delay > deadline) {
        throw new FerryError('DB_NOT_READY', `${store.describe()} did not answer within ${waitSeconds} s (${attempts} tries); last error: ${error.message}`, {
          hint: error.hint ?? 'Check that the database container is running and its URL is right.',
          cause: error,
        });
      }
      ctx.log.info(`waiting for ${store.describe()}: ${error.message}`);
      await sleep(delay, ctx.signal);
      delay = Math.min(delay * 2, 5000);
    }
  }
}

/** `ferry db check`: every configured database answers and has its required tables/collections. */
export async function dbCheck(ctx: OperationContext, options: DbCheckOptions): Promise<StoreCheck[]> {
  const checks: StoreCheck[] = [];
  for (const store of databaseStores(ctx)) checks.push(await waitForDatabase(store, options.waitSeconds, ctx));
  return checks;
}

export function assertRequiredPresent(checks: StoreCheck[]): void {
  const missing = checks.flatMap((c) => c.missing.map((name) => `${c.kind} ${name}`));
  if (missing.length > 0) {
    throw new FerryError('DB_CHECK_FAILED', `required ${missing.length === 1 ? 'object is' : 'objects are'} missing: ${missing.join(', ')}`, {
      hint: 'Run ferry db init (MongoDB collections), the app\'s migrations (PostgreSQL tables), or restore a backup.',
    });
  }
}

export interface DbInitResult {
  checks: StoreCheck[];
  inits: Array<{ kind: string; target: string } & DatabaseInit>;
}

/** `ferry db init`: waits like check, creates what is declared and missing, then checks again. */
export async function dbInit(ctx: OperationContext, options: DbCheckOptions): Promise<DbInitResult> {
  const inits: DbInitResult['inits'] = [];
  for (const store of databaseStores(ctx)) {
    await waitForDatabase(store, options.waitSeconds, ctx);
    if (store.initDatabase !== undefined) inits.push({ kind: store.kind, target: store.describe(), ...(await store.initDatabase()) });
  }
  return { checks: await dbCheck(ctx, { waitSeconds: 0 }), inits };
}
