import { list } from '../../ops/list.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import { keptCopiesOf, renderKept } from '../render/kept.js';
import { table } from '../render/output.js';
import type { Session } from '../session.js';

export async function listCommand(session: Session, options: { remote?: boolean }): Promise<number> {
  const remote = options.remote === true;
  const result = await list(session.ctx, { remote });
  const { output } = session;
  const now = Date.now();
  if (output.options.json) {
    output.json({
      directory: result.directory,
      backups: result.backups.map((b) => ({
        name: b.name,
        path: b.path,
        time: b.time.toISOString(),
        ageSeconds: Math.round((now - b.time.getTime()) / 1000),
        size: b.size,
        stores: b.manifest === undefined ? null : Object.keys(b.manifest.stores),
        status: statusOf(b.manifest !== undefined, b.hasChecksum, remote, b.verification?.oldScripts === true),
        verification: b.verification ?? null,
      })),
      foreign: result.foreign,
    });
    return 0;
  }
  if (result.backups.length === 0) {
    output.data(`no backups in ${result.directory}`);
    return 0;
  }
  output.data(table(
    ['backup', 'age', 'size', 'stores', 'status', 'verified'],
    result.backups.map((b) => [
      b.name,
      formatDuration((now - b.time.getTime()) / 1000),
      formatBytes(b.size),
      b.manifest === undefined ? '?' : Object.keys(b.manifest.stores).join(','),
      statusOf(b.manifest !== undefined, b.hasChecksum, remote, b.verification?.oldScripts === true),
      b.verification === undefined ? 'never' : `${b.verification.ok ? 'ok' : 'FAILED'} ${formatDuration((now - Date.parse(b.verification.checkedAt)) / 1000)} ago`,
    ]),
  ));
  if (result.foreign.length > 0) output.logger.info(`not Ferry's, left alone: ${result.foreign.join(', ')}`);
  const kept = remote ? undefined : renderKept(await keptCopiesOf(session));
  if (kept !== undefined) output.data(kept);
  return 0;
}

function statusOf(hasManifest: boolean, hasChecksum: boolean, remote: boolean, oldScripts: boolean): string {
  if (hasManifest && hasChecksum) return 'complete';
  if (oldScripts) return 'old scripts: no checksums';
  if (remote) return hasChecksum ? 'no manifest' : 'incomplete upload (run ferry push)';
  return 'no sidecar (ferry verify tells)';
}
