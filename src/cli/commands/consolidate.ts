import { basename } from 'node:path';
import { consolidate } from '../../ops/consolidate.js';
import { formatBytes } from '../../util/format.js';
import type { Session } from '../session.js';

export async function consolidateCommand(session: Session, reference: string): Promise<number> {
  const result = await consolidate(session.ctx, reference);
  const { output } = session;
  if (output.options.json) {
    output.json({ from: result.from, archive: result.archive ?? null, size: result.size, chain: result.chain });
    return 0;
  }
  if (result.archive === undefined) {
    output.data(`${basename(result.from)} is a full backup already: nothing to consolidate`);
    return 0;
  }
  output.data(`wrote ${result.archive} (${formatBytes(result.size)}), a verified full of ${basename(result.from)} made from ${result.chain.join(' + ')}`);
  return 0;
}
