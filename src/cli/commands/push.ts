import { push } from '../../ops/push.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import type { Session } from '../session.js';

export async function pushCommand(session: Session, archive: string | undefined): Promise<number> {
  const result = await push(session.ctx, archive);
  const { output } = session;
  if (output.options.json) {
    output.json({ location: result.remote, uploaded: result.uploaded, present: result.present });
    return 0;
  }
  for (const u of result.uploaded) output.data(`uploaded ${u.name} to ${result.remote}: ${formatBytes(u.size)} in ${formatDuration(u.seconds)}, ETag and sha256 checked`);
  if (result.present.length > 0) output.data(`already at ${result.remote}: ${result.present.join(', ')}`);
  if (result.uploaded.length === 0 && result.present.length === 0) output.data(`nothing to upload to ${result.remote}`);
  return 0;
}
