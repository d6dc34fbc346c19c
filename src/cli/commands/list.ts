import type { BackupDetails } from '../../ops/catalog.js';
import { list, type ListResult } from '../../ops/list.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import { ageSeconds, archivedStoresJson } from '../render/json.js';
import { keptCopiesOf, renderKept } from '../render/kept.js';
import { table } from '../render/output.js';
import type { Session } from '../session.js';

export async function listCommand(session: Session, options: { remote?: boolean }): Promise<number> {
  const remote = options.remote === true;
  const result = await list(session.ctx, { remote });
  const { output } = session;
  const now = Date.now();
  const statusOfBackup = (b: BackupDetails) => statusOf(b.manifest !== undefined, b.hasChecksum, remote, b.verification?.oldScripts === true);
  if (output.options.json) {
    output.json(listJson(result, remote, new Date(now)));
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
      // An old scripts' archive has no manifest: its stores are known once ferry verify read it.
      b.manifest === undefined ? (b.verification?.stores?.join(',') ?? '?') : Object.entries(b.manifest.stores).map(([kind, store]) => (store.chain?.kind === 'delta' ? `${kind}(delta on ${store.chain.base?.name ?? '?'})` : kind)).join(','),
      STATUS_TEXT[statusOfBackup(b)],
      b.verification === undefined ? 'never' : `${b.verification.ok ? 'ok' : 'FAILED'} ${formatDuration((now - Date.parse(b.verification.checkedAt)) / 1000)} ago`,
    ]),
  ));
  if (result.foreign.length > 0) output.logger.info(`not Ferry's, left alone: ${result.foreign.join(', ')}`);
  const kept = remote ? undefined : renderKept(await keptCopiesOf(session));
  if (kept !== undefined) output.data(kept);
  return 0;
}

/** The `ferry list --json` document (docs/json/list.schema.json), without its schemaVersion. */
export function listJson(result: ListResult, remote: boolean, now: Date) {
  const statusOfBackup = (b: BackupDetails) => statusOf(b.manifest !== undefined, b.hasChecksum, remote, b.verification?.oldScripts === true);
  return {
    location: result.directory,
    remote,
    backups: result.backups.map((b) => ({
      name: b.name,
      path: b.path,
      time: b.time.toISOString(),
      ageSeconds: ageSeconds(b.time, now),
      size: b.size,
      stores: b.manifest === undefined ? null : archivedStoresJson(b.manifest),
      status: statusOfBackup(b),
      statusText: STATUS_TEXT[statusOfBackup(b)],
      verification: b.verification === undefined ? null : { checkedAt: b.verification.checkedAt, ok: b.verification.ok, oldScripts: b.verification.oldScripts === true },
    })),
    foreign: result.foreign,
  };
}

type Status = 'complete' | 'old-scripts' | 'no-manifest' | 'incomplete-upload' | 'no-sidecar';

const STATUS_TEXT: Record<Status, string> = {
  'complete': 'complete',
  'old-scripts': 'old scripts: no checksums',
  'no-manifest': 'no manifest',
  'incomplete-upload': 'incomplete upload (run ferry push)',
  'no-sidecar': 'no sidecar (ferry verify tells)',
};

function statusOf(hasManifest: boolean, hasChecksum: boolean, remote: boolean, oldScripts: boolean): Status {
  if (hasManifest && hasChecksum) return 'complete';
  if (oldScripts) return 'old-scripts';
  if (remote) return hasChecksum ? 'no-manifest' : 'incomplete-upload';
  return 'no-sidecar';
}
