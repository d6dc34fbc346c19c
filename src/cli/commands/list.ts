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
  const statusTextOf = statusTexts(result.backups, remote);
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
      statusTextOf(b).text,
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
  const statusTextOf = statusTexts(result.backups, remote);
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
      status: statusTextOf(b).status,
      statusText: statusTextOf(b).text,
      verification: b.verification === undefined ? null : { checkedAt: b.verification.checkedAt, ok: b.verification.ok, oldScripts: b.verification.oldScripts === true },
    })),
    foreign: result.foreign,
  };
}

type Status = 'complete' | 'old-scripts' | 'no-manifest' | 'incomplete-upload' | 'no-sidecar' | 'chain-broken';

const STATUS_TEXT: Record<Status, string> = {
  'complete': 'complete',
  'old-scripts': 'old scripts: no checksums',
  'no-manifest': 'no manifest',
  'incomplete-upload': 'incomplete upload (run ferry push)',
  'no-sidecar': 'no sidecar (ferry verify tells)',
  'chain-broken': 'a base of its chain is missing: cannot be restored',
};

/**
 * Each backup's status; a delta whose chain lacks an archive here (by name: verify and health also
 * check each link's manifest) is shown as what it is, unrestorable, since list is where one is picked.
 */
function statusTexts(backups: readonly BackupDetails[], remote: boolean): (b: BackupDetails) => { status: Status; text: string } {
  const byName = new Map(backups.map((b) => [b.name, b]));
  const missingBase = (b: BackupDetails): string | undefined => {
    const seen = new Set<string>();
    for (let current: BackupDetails | undefined = b; current?.manifest !== undefined && !seen.has(current.name);) {
      seen.add(current.name);
      const base = Object.values(current.manifest.stores).find((store) => store.chain?.kind === 'delta')?.chain?.base?.name;
      if (base === undefined) return undefined;
      current = byName.get(base);
      if (current === undefined) return base;
    }
    return undefined;
  };
  return (b) => {
    const status = statusOf(b.manifest !== undefined, b.hasChecksum, remote, b.verification?.oldScripts === true);
    const missing = status === 'complete' ? missingBase(b) : undefined;
    return missing === undefined ? { status, text: STATUS_TEXT[status] } : { status: 'chain-broken', text: `base ${missing} missing: cannot be restored` };
  };
}

function statusOf(hasManifest: boolean, hasChecksum: boolean, remote: boolean, oldScripts: boolean): Status {
  if (hasManifest && hasChecksum) return 'complete';
  if (oldScripts) return 'old-scripts';
  if (remote) return hasChecksum ? 'no-manifest' : 'incomplete-upload';
  return 'no-sidecar';
}
