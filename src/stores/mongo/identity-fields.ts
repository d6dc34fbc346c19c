import type { FingerprintFields, IdentityReader } from '../store.js';
import { opaqueSource } from '../store.js';

/** `describeMongo`'s "mongodb app@db1:27017,db2:27017/legrimoire" (or mongodb+srv). */
const SOURCE = /^mongodb(?:\+srv)? (?:([^@ ]+)@)?([^/ ]+)\/(.*)$/;
/** `dataFingerprint`'s form, and the two that archives of earlier versions recorded. */
const BY_UUIDS = /^mongodb collections ([0-9a-f,]*)(?: replica set (.+))?$/;
const BY_HOST = /^mongodb host (\S+) database (.*)$/;
const BY_REPLICA_SET = /^mongodb replica set (\S+) database (.*)$/;

export const mongoIdentity: IdentityReader = {
  source(text) {
    const m = SOURCE.exec(text);
    if (m === null) return opaqueSource(text);
    return { description: text, user: m[1] ?? null, hosts: (m[2] ?? '').split(','), database: m[3] ?? null, path: null };
  },
  fingerprint(text): FingerprintFields {
    const uuids = BY_UUIDS.exec(text);
    if (uuids !== null) return { value: text, by: 'collection-uuids', collectionUuids: (uuids[1] ?? '').split(',').filter((u) => u !== ''), replicaSet: uuids[2] ?? null };
    const host = BY_HOST.exec(text);
    if (host !== null) return { value: text, by: 'host', host: host[1] ?? '', database: host[2] ?? '' };
    const set = BY_REPLICA_SET.exec(text);
    if (set !== null) return { value: text, by: 'replica-set', replicaSet: set[1] ?? '', database: set[2] ?? '' };
    return { value: text, by: 'unknown' };
  },
};
