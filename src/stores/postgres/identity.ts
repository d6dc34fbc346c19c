import type { FingerprintFields, IdentityReader } from '../store.js';
import { opaqueSource } from '../store.js';

/** `describeUrl`'s "postgres app@db:5432/legrimoire". */
const SOURCE = /^postgres (?:(.+)@)?([^@/]*:\d+)\/(.*)$/;
/** `serverFacts`' "postgres system <id> database <db>" or, without pg_control_system, "postgres host <h:p> database <db>". */
const FINGERPRINT = /^postgres (system|host) (\S+) database (.*)$/;

export const postgresIdentity: IdentityReader = {
  source(text) {
    const m = SOURCE.exec(text);
    if (m === null) return opaqueSource(text);
    return { description: text, user: m[1] ?? null, hosts: [m[2] ?? ''], database: m[3] === '' ? 'postgres' : (m[3] ?? null), path: null };
  },
  fingerprint(text): FingerprintFields {
    const m = FINGERPRINT.exec(text);
    if (m === null) return { value: text, by: 'unknown' };
    const [, by, id = '', database = ''] = m;
    return by === 'system' ? { value: text, by: 'system-identifier', systemIdentifier: id, database } : { value: text, by: 'host', host: id, database };
  },
};
