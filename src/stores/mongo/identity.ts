import type { Document } from 'bson';
import type { MongoClient } from 'mongodb';
import type { MongodbConfig } from '../../config/index.js';
import { hostsOf } from './connection.js';

export interface ServerFacts {
  version: string;
  /** hello.setName on a replica-set member. */
  replicaSet: string | undefined;
  /** A mongos in front of a sharded cluster. */
  sharded: boolean;
  facts: Record<string, string>;
}

export async function serverFacts(client: MongoClient): Promise<ServerFacts> {
  const admin = client.db('admin');
  const hello: Document = await admin.command({ hello: 1 });
  const build: Document = await admin.command({ buildInfo: 1 });
  const facts: Record<string, string> = {};
  if (hello.localTime instanceof Date) facts.serverTimeAtStart = hello.localTime.toISOString();
  if (hello.operationTime !== undefined) facts.operationTime = String(hello.operationTime);
  if (hello.setName !== undefined) facts.replicaSet = String(hello.setName);
  try {
    const fcv: Document = await admin.command({ getParameter: 1, featureCompatibilityVersion: 1 });
    const version = (fcv.featureCompatibilityVersion as Document | undefined)?.version;
    if (version !== undefined) facts.featureCompatibilityVersion = String(version);
  } catch {
    // Needs a privilege the backup user may lack; the server version is recorded either way.
  }
  return { version: String(build.version ?? '?'), sharded: hello.msg === 'isdbgrid', replicaSet: hello.setName === undefined ? undefined : String(hello.setName), facts };
}

/**
 * The identity of a database by what it holds rather than how the URL spells its server: the
 * UUIDs MongoDB gave its collections (kept by renames, new for every created collection), plus the
 * replica set's name for people reading the manifest. 127.0.0.1, localhost and a seed list of the
 * same server all see the same UUIDs; another server with the same names sees none of them.
 */
export function dataFingerprint(uuids: string[], replicaSet: string | undefined): string {
  return `mongodb collections ${[...uuids].sort().join(',')}${replicaSet === undefined ? '' : ` replica set ${replicaSet}`}`;
}

const DATA_FINGERPRINT = /^mongodb collections ([0-9a-f,]*)/;

/**
 * The target's fingerprint as the guard compares it with the archive's: equal to the archive's when
 * the target's collections carry any of the archive's UUIDs. Archives of earlier versions recorded
 * `mongodb host <host> database <db>` or `mongodb replica set <name> database <db>`; for them the
 * target is described the same way.
 */
export function targetFingerprint(archive: string | undefined, targetUuids: string[], facts: ServerFacts, config: MongodbConfig, database: string): string {
  const match = archive === undefined ? null : DATA_FINGERPRINT.exec(archive);
  if (archive !== undefined && match === null) {
    const identity = facts.replicaSet !== undefined ? `replica set ${facts.replicaSet}` : `host ${hostsOf(config)}`;
    return `mongodb ${identity} database ${database}`;
  }
  const archiveUuids = new Set((match?.[1] ?? '').split(',').filter((u) => u !== ''));
  if (archive !== undefined && targetUuids.some((uuid) => archiveUuids.has(uuid))) return archive;
  return dataFingerprint(targetUuids, facts.replicaSet);
}

/** Snapshot reads outside transactions: replica sets and sharded clusters of MongoDB 5.0 and later. */
export function snapshotSupport(facts: ServerFacts): { supported: boolean; reason: string } {
  const major = Number(facts.version.split('.')[0]);
  if (facts.replicaSet === undefined && !facts.sharded) return { supported: false, reason: 'a standalone server has no snapshot reads' };
  if (!(major >= 5)) return { supported: false, reason: `MongoDB ${facts.version} has no snapshot reads outside transactions (5.0 and later have)` };
  return { supported: true, reason: '' };
}
