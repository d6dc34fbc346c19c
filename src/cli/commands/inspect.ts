import { LEGACY_FORMAT_VERSION } from '../../archive/index.js';
import { inspect, type InspectResult } from '../../ops/inspect.js';
import { formatBytes, formatDuration } from '../../util/format.js';
import { archivedStoresJson } from '../render/json.js';
import { table } from '../render/output.js';
import type { Session } from '../session.js';

export async function inspectCommand(session: Session, reference: string): Promise<number> {
  const result = await inspect(session.ctx, reference);
  const { output } = session;
  if (output.options.json) {
    output.json(inspectJson(result));
    return 0;
  }
  const m = result.manifest;
  // The old scripts recorded no host, duration or counts: say so rather than print zeros.
  const legacy = m.formatVersion === LEGACY_FORMAT_VERSION;
  const lines = [
    `archive   ${result.archive} (${formatBytes(result.size)})`,
    legacy ? `created   ${m.createdAt} (read from its name, or its oldest entry)` : `created   ${m.createdAt} on ${m.host} in ${formatDuration(m.durationSeconds)}`,
    legacy ? 'written   by the old backup scripts (no manifest.json)' : `written   by ferry ${m.tool.version}, archive format ${m.formatVersion}${m.compression === undefined ? '' : `, ${m.compression.codec} level ${m.compression.level}`}`,
    `entries   ${m.entries.length}, ${legacy ? 'made by the old scripts: no checksums' : 'each with size and sha256'}`,
    '',
  ];
  for (const [kind, store] of Object.entries(m.stores)) {
    lines.push(`${kind}: ${store.source}`);
    const versions = [store.serverVersion && `server ${store.serverVersion}`, store.toolVersion && `dumped with ${store.toolVersion}`].filter(Boolean).join(', ');
    if (versions !== '') lines.push(`  ${versions}`);
    lines.push(legacy ? `  ${formatBytes(store.bytes)}` : `  ${formatBytes(store.bytes)} in ${formatDuration(store.durationSeconds)}`);
    if (store.chain?.kind === 'delta') lines.push(`  delta ${store.chain.position} on ${store.chain.base?.name ?? '?'}: ${formatBytes(store.chain.writtenBytes)} of changed files in this archive, ${(m.chainDeleted ?? []).length} paths gone; restoring it reads its chain back to the full`);
    else if (store.chain?.kind === 'full') lines.push('  full: starts a chain of deltas (uploads.incremental)');
    for (const warning of store.warnings) lines.push(`  warning: ${warning}`);
    const counts = Object.entries(store.counts);
    if (counts.length > 0) lines.push(table(['  object', 'count'], counts.map(([object, count]) => [`  ${object}`, String(count)])));
    lines.push('');
  }
  lines.push(`restore with: ferry restore ${result.archive}   (--only ${Object.keys(m.stores).join(',')})`);
  output.data(lines.join('\n'));
  return 0;
}

/** The `ferry inspect --json` document (docs/json/inspect.schema.json), without its schemaVersion. */
export function inspectJson(result: InspectResult) {
  const m = result.manifest;
  return {
    archive: result.archive,
    size: result.size,
    formatVersion: m.formatVersion,
    tool: m.tool,
    createdAt: m.createdAt,
    host: m.host,
    durationSeconds: m.durationSeconds,
    stores: archivedStoresJson(m),
    entries: m.entries,
    // Archives from before zstd record nothing: they are gzip, at a level nobody wrote down.
    compression: m.compression ?? { codec: 'gzip', level: null },
    masked: m.masked ?? null,
    encryption: m.encryption ?? null,
  };
}
