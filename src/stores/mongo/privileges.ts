import type { Document, MongoClient } from 'mongodb';
import type { MongodbConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import { describeMongo } from './connection.js';

/** The actions each operation uses on the database (MongoDB's privilege action names). */
const NEEDED = {
  backup: ['find', 'listCollections', 'listIndexes'],
  restore: ['find', 'listCollections', 'listIndexes', 'createCollection', 'insert', 'createIndex', 'renameCollectionSameDB', 'dropCollection'],
} as const;

interface Privilege {
  resource?: { db?: string; collection?: string; anyResource?: boolean; cluster?: boolean };
  actions?: string[];
}

/**
 * Reads what the logged-in user may do (connectionStatus with showPrivileges) and refuses, before
 * anything is read or written, when an action the operation needs on the database is missing.
 * Without authentication there is no user and nothing to check.
 */
export async function requirePrivileges(client: MongoClient, database: string, operation: keyof typeof NEEDED, config: MongodbConfig): Promise<void> {
  const status: Document = await client.db('admin').command({ connectionStatus: 1, showPrivileges: true });
  const info = (status.authInfo ?? {}) as { authenticatedUsers?: Array<{ user?: string }>; authenticatedUserPrivileges?: Privilege[] };
  if ((info.authenticatedUsers ?? []).length === 0) return;
  const granted = new Set<string>();
  for (const privilege of info.authenticatedUserPrivileges ?? []) {
    const r = privilege.resource ?? {};
    const wholeDatabase = r.anyResource === true || ((r.db === database || r.db === '') && r.collection === '');
    if (wholeDatabase) for (const action of privilege.actions ?? []) granted.add(action);
  }
  const needed: string[] = [...NEEDED[operation]];
  if (operation === 'restore' && config.bypass_document_validation) needed.push('bypassDocumentValidation');
  const missing = granted.has('anyAction') ? [] : needed.filter((action) => !granted.has(action));
  if (missing.length === 0) return;
  const user = info.authenticatedUsers?.map((u) => u.user).join(', ') ?? '?';
  const roles = operation === 'backup' ? 'read (or backup)' : config.bypass_document_validation ? 'readWrite and restore (or dbOwner)' : 'readWrite';
  throw new FerryError('MONGO_AUTH', `user ${user} may not ${operation === 'backup' ? 'back up' : 'restore into'} ${describeMongo(config, database)}: missing ${missing.join(', ')} on database ${database}`, {
    hint: `Grant the user the ${roles} role on ${database}. Nothing was read or written.`,
  });
}
