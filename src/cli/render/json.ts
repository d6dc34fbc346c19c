import type { Manifest } from '../../archive/index.js';
import type { StoreCheck } from '../../ops/db.js';
import type { RestorePlan, RestoreResult, StoreKeptCopies } from '../../ops/restore/index.js';
import { readStoreIdentity, type FingerprintFields, type ObjectCount, type SourceFields } from '../../stores/index.js';

/**
 * The JSON contract (docs/scripting.md, docs/json/): every document carries this number. It grows
 * only when a field is removed, renamed or changes meaning; new fields may appear within a version.
 */
export const JSON_SCHEMA_VERSION = 1;

/** One document on stdout, as every `--json` output and error is written. */
export function jsonDocument(value: object): string {
  return JSON.stringify({ schemaVersion: JSON_SCHEMA_VERSION, ...value }, null, 2);
}

/** The one error shape: typed failures, usage errors and bugs alike. */
export interface JsonError {
  code: string;
  message: string;
  hint: string | null;
  exitCode: number;
}

export function errorJson(error: { code: string; message: string; hint?: string | undefined; exitCode: number }): { error: JsonError } {
  return { error: { code: error.code, message: error.message, hint: error.hint ?? null, exitCode: error.exitCode } };
}

/**
 * Counts of one object (table, collection, folder entry kind): `expected` is what the archive
 * records, `actual` what this command counted in the database or folder; null when not known.
 */
export interface CountJson {
  object: string;
  expected: number | null;
  actual: number | null;
}

export function countsJson(expected: Readonly<Record<string, number>> | undefined, actual: Readonly<Record<string, number>> | undefined): CountJson[] {
  const objects = [...new Set([...Object.keys(expected ?? {}), ...Object.keys(actual ?? {})])];
  const known = (n: number | undefined) => (n === undefined || n < 0 ? null : n);
  return objects.map((object) => ({ object, expected: known(expected?.[object]), actual: known(actual?.[object]) }));
}

/** Restore's per-object result, where a negative number means "not known" (no manifest count, object missing). */
export function objectCountJson(c: ObjectCount): CountJson {
  return { object: c.object, expected: c.expected < 0 ? null : c.expected, actual: c.actual < 0 ? null : c.actual };
}

/** A store as every command shows it: kind, the database or folder concerned (no secrets), counts; then details. */
export interface StoreJson {
  kind: string;
  target: string;
  counts: CountJson[];
}

export interface ArchivedStoreJson extends StoreJson {
  source: SourceFields;
  fingerprint: FingerprintFields | null;
  serverVersion: string | null;
  toolVersion: string | null;
  bytes: number;
  durationSeconds: number;
  warnings: string[];
  facts: Record<string, string>;
  chain: { kind: 'full' | 'delta'; position: number; base: { name: string; manifestSha256: string } | null; writtenBytes: number } | null;
}

/**
 * The stores of an archive's manifest. `target` is the source the archive was taken from;
 * `countedNow` says the counts were taken by this very command (backup), so they are also `actual`.
 */
export function archivedStoresJson(manifest: Pick<Manifest, 'stores'>, countedNow = false): ArchivedStoreJson[] {
  return Object.entries(manifest.stores).map(([kind, store]) => {
    const identity = readStoreIdentity(kind, store.source, store.fingerprint);
    return {
      kind,
      target: store.source,
      counts: countsJson(store.counts, countedNow ? store.counts : undefined),
      source: identity.source,
      fingerprint: identity.fingerprint,
      serverVersion: store.serverVersion ?? null,
      toolVersion: store.toolVersion ?? null,
      bytes: store.bytes,
      durationSeconds: store.durationSeconds,
      warnings: store.warnings,
      facts: store.facts ?? {},
      chain: store.chain === undefined ? null : { ...store.chain, base: store.chain.base ?? null },
    };
  });
}

/** A restore plan's stores: `expected` is what the archive holds, `actual` what the target holds now. */
export function plannedStoresJson(stores: RestorePlan['stores']) {
  return stores.map(({ store, manifest, target }) => ({
    kind: store.kind,
    target: target.describe,
    counts: countsJson(manifest.counts, target.currentCounts),
    ...readStoreIdentity(store.kind, manifest.source, manifest.fingerprint),
    targetExists: target.currentCounts !== undefined,
    bytes: manifest.bytes,
    notes: target.notes ?? [],
  }));
}

/** A restore's stores: `actual` is what the target holds after it. */
export function restoredStoresJson(stores: RestoreResult['stores']) {
  return stores.map((s) => ({
    kind: s.kind,
    target: s.target,
    counts: s.counts.map(objectCountJson),
    durationSeconds: s.durationSeconds,
    masking: s.masking ?? [],
    notes: s.notes ?? [],
  }));
}

/** db check and init: `actual` is what each database holds now; there is no archive to expect from. */
export function checkedStoresJson(checks: readonly StoreCheck[]) {
  return checks.map((c) => ({
    kind: c.kind,
    target: c.target,
    counts: countsJson(undefined, Object.fromEntries(c.objects.map((o) => [o.name, o.count]))),
    serverVersion: c.serverVersion,
    waitedSeconds: c.waitedSeconds,
    estimated: c.objects.filter((o) => o.estimated).map((o) => o.name),
    required: c.objects.filter((o) => o.required).map((o) => o.name).concat(c.missing),
    missing: c.missing,
  }));
}

/** Copies restores kept beside the targets (for --undo and reset). */
export function keptJson(kept: readonly StoreKeptCopies[]) {
  return kept.map((k) => ({ kind: k.kind, target: k.target, copies: k.copies.map((c) => ({ role: c.role, location: c.describe, bytes: c.bytes ?? null })) }));
}

/** Seconds from `time` to `now`, whole. */
export function ageSeconds(time: Date, now: Date): number {
  return Math.round((now.getTime() - time.getTime()) / 1000);
}
