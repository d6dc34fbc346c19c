import { applyRestore, guardRestore, planRestore } from '../../src/ops/restore/index.js';
import { loadConfig, Redactor } from '../../src/config/index.js';
import { silentLogger, silentProgress, type OperationContext } from '../../src/ops/context.js';
import type { StoreContext } from '../../src/stores/index.js';

export function storeCtx(tempDirPath: string): StoreContext {
  return { signal: new AbortController().signal, log: silentLogger, progress: silentProgress, redactor: new Redactor(), tempDir: tempDirPath };
}

/** A restore through the library, which already takes keepPristine (the CLI flag is wired elsewhere). */
export async function libraryRestore(target: string, backups: string, keepPristine: boolean) {
  const loaded = await loadConfig({ env: { UPLOADS_DIR: target, BACKUP_DIRECTORY: backups }, cwd: backups });
  const ctx: OperationContext = { config: loaded.config, redactor: loaded.redactor, signal: new AbortController().signal, log: silentLogger, progress: silentProgress };
  const plan = await planRestore(ctx, 'latest', { keepPristine }, storeCtx(backups));
  guardRestore(plan);
  return { plan, result: await applyRestore(ctx, plan) };
}
