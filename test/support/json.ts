/** A store of an archive as `--json` shows it (docs/json/common.schema.json#/$defs/archivedStore). */
export interface ArchivedStoreJson {
  kind: string;
  target: string;
  counts: Array<{ object: string; expected: number | null; actual: number | null }>;
  source: { description: string; user: string | null; hosts: string[]; database: string | null; path: string | null };
  fingerprint: { value: string; by: string } | null;
  bytes: number;
  warnings: string[];
  facts: Record<string, string>;
}

/** The stores of a backup or inspect document by kind, each with its counts as the manifest records them. */
export function storesByKind(stdout: string): Record<string, Omit<ArchivedStoreJson, 'counts'> & { counts: Record<string, number> }> {
  const { stores } = JSON.parse(stdout) as { stores: ArchivedStoreJson[] };
  return Object.fromEntries(stores.map((s) => [s.kind, { ...s, counts: Object.fromEntries(s.counts.map((c) => [c.object, c.expected ?? -1])) }]));
}
