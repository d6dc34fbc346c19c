import { stat } from 'node:fs/promises';
import type { Manifest } from '../archive/index.js';
import { locateArchive, manifestOf } from './catalog.js';
import type { OperationContext } from './context.js';
import { decryption } from './keys.js';

export interface InspectResult {
  archive: string;
  size: number;
  manifest: Manifest;
}

export async function inspect(ctx: OperationContext, reference: string): Promise<InspectResult> {
  const archive = await locateArchive(reference, ctx.config.backup.directory);
  const manifest = await manifestOf(archive, ctx.signal, decryption(ctx, archive));
  return { archive, size: (await stat(archive)).size, manifest };
}
