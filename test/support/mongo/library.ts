import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyRestore, guardRestore, loadConfig, planRestore, Redactor, silentLogger, silentProgress, type RestoreRequest, type RestoreResult } from '../../../src/index.js';
import { storesFromConfig, type Store, type StoreContext } from '../../../src/stores/index.js';

/** The MongoDB store configured from these environment variables, as the CLI would build it. */
export async function mongoStoreFrom(env: Record<string, string>): Promise<Store> {
  const { config } = await loadConfig({ env, cwd: tmpdir() });
  const store = storesFromConfig(config).find((s) => s.kind === 'mongo');
  if (store === undefined) throw new Error('no mongodb section in the test configuration');
  return store;
}

export function storeContext(): StoreContext {
  return { signal: new AbortController().signal, log: silentLogger, progress: silentProgress, redactor: new Redactor(), tempDir: tmpdir() };
}

/** Plans, guards and applies a restore through the library, with request options the CLI may not expose yet. */
export async function restoreThroughLibrary(env: Record<string, string>, reference: string, request: RestoreRequest): Promise<RestoreResult> {
  const { config, redactor } = await loadConfig({ env, cwd: tmpdir() });
  const tempDir = await mkdtemp(join(tmpdir(), 'ferry-test-'));
  const ctx = { config, redactor, signal: new AbortController().signal, log: silentLogger, progress: silentProgress };
  try {
    const plan = await planRestore(ctx, reference, request, { ...ctx, tempDir });
    guardRestore(plan);
    return await applyRestore(ctx, plan);
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
}
