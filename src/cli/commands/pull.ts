import { pull } from '../../ops/pull.js';
import { isRemoteReference, parseRemoteReference } from '../../remote/index.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import type { Session } from '../session.js';

export async function pullCommand(session: Session, reference: string): Promise<number> {
  const remote = isRemoteReference(reference) ? parseRemoteReference(reference) : undefined;
  const result = remote === undefined ? await pull(session.ctx, reference) : await pull(session.ctx, remote.name, remote.location);
  const { output } = session;
  if (output.options.json) {
    output.json({
      name: result.name, path: result.path, size: result.size, sha256: result.sha256, downloaded: result.downloaded, seconds: result.seconds,
      chain: (result.chain ?? []).map((l) => ({ name: l.name, path: l.path, size: l.size, sha256: l.sha256, downloaded: l.downloaded, seconds: l.seconds })),
    });
    return 0;
  }
  output.data(result.downloaded
    ? `pulled ${result.path}: ${formatBytes(result.size)} in ${formatDuration(result.seconds)}, sha256 ${result.sha256} checked`
    : `${result.path} is already here (sha256 ${result.sha256})`);
  for (const link of result.chain ?? []) output.data(`  and ${link.name}, a link of its chain: ${link.downloaded ? `pulled, ${formatBytes(link.size)}` : 'already here'}`);
  return 0;
}
