import { tmpdir } from 'node:os';
import { keptCopies, type StoreKeptCopies } from '../../ops/restore/index.js';
import { storesFromConfig } from '../../stores/index.js';
import { formatBytes } from '../../util/format.js';
import type { Session } from '../session.js';

/**
 * The copies restores kept beside the configured targets, for list and db check. Best effort: a
 * target that cannot be reached just shows nothing here (its own command reports that).
 */
export async function keptCopiesOf(session: Session): Promise<StoreKeptCopies[]> {
  const { ctx } = session;
  if (storesFromConfig(ctx.config).length === 0) return [];
  const storeCtx = { signal: ctx.signal, log: ctx.log, progress: ctx.progress, redactor: ctx.redactor, tempDir: tmpdir() };
  return keptCopies(ctx, { allowRemote: false }, storeCtx).catch(() => []);
}

export function renderKept(kept: StoreKeptCopies[]): string | undefined {
  const lines = kept.flatMap((k) => k.copies.map((c) => `  ${k.kind}: ${c.role} copy ${c.describe}${c.bytes === undefined ? '' : `, ${formatBytes(c.bytes)}`}`));
  if (lines.length === 0) return undefined;
  return ['kept by restores (ferry restore --undo, ferry reset; ferry restore --drop-previous removes them):', ...lines].join('\n');
}
