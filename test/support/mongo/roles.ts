import type { Document } from 'bson';
import { CommandError } from './server.js';

/** A user of the test server: a password and MongoDB built-in roles (`read`, `readWrite` on a database; `backup`, `restore`, `root` on all). */
export interface TestUser {
  password: string;
  roles: Array<{ role: 'read' | 'readWrite' | 'backup' | 'restore' | 'root'; db: string }>;
}

const READ = ['changeStream', 'collStats', 'dbHash', 'dbStats', 'find', 'killCursors', 'listCollections', 'listIndexes'];
/** The actions of MongoDB's built-in roles that the commands Ferry sends need (from MongoDB's role reference). */
const ROLE_ACTIONS: Record<TestUser['roles'][number]['role'], string[]> = {
  read: READ,
  readWrite: [...READ, 'convertToCapped', 'createCollection', 'createIndex', 'dropCollection', 'dropIndex', 'insert', 'remove', 'renameCollectionSameDB', 'update'],
  backup: ['find', 'listCollections', 'listIndexes', 'collStats', 'dbStats'],
  restore: ['bypassDocumentValidation', 'collMod', 'convertToCapped', 'createCollection', 'createIndex', 'dropCollection', 'insert'],
  root: [],
};
ROLE_ACTIONS.root = [...new Set([...ROLE_ACTIONS.readWrite, ...ROLE_ACTIONS.restore, ...ROLE_ACTIONS.backup, 'dropDatabase'])];

export interface Privilege {
  resource: Document;
  actions: string[];
}

export function privilegesOf(user: TestUser): Privilege[] {
  return user.roles.map(({ role, db }) => {
    const everywhere = role === 'backup' || role === 'restore' || role === 'root';
    return { resource: { db: everywhere ? '' : db, collection: '' }, actions: ROLE_ACTIONS[role] };
  });
}

/** The action each data command needs; commands not listed need none beyond being logged in. */
function actionsFor(name: string, command: Document): string[] {
  switch (name) {
    case 'find': case 'count': return ['find'];
    case 'listCollections': return ['listCollections'];
    case 'listIndexes': return ['listIndexes'];
    case 'collStats': return ['collStats'];
    case 'insert': return command.bypassDocumentValidation === true ? ['insert', 'bypassDocumentValidation'] : ['insert'];
    case 'create': return ['createCollection'];
    case 'createIndexes': return ['createIndex'];
    case 'drop': return ['dropCollection'];
    case 'dropDatabase': return ['dropDatabase'];
    case 'renameCollection': return ['renameCollectionSameDB'];
    default: return [];
  }
}

/** Refuses a command the user's roles do not allow on the database, as MongoDB does (code 13). */
export function authorize(user: TestUser | undefined, name: string, command: Document, db: string): void {
  if (user === undefined) return;
  const needed = actionsFor(name, command);
  if (needed.length === 0) return;
  const target = name === 'renameCollection' ? String(command.renameCollection).split('.')[0] ?? db : db;
  const granted = new Set<string>();
  for (const p of privilegesOf(user)) {
    if (p.resource.db === target || p.resource.db === '') for (const action of p.actions) granted.add(action);
  }
  const missing = needed.filter((action) => !granted.has(action));
  if (missing.length > 0) throw new CommandError(13, 'Unauthorized', `not authorized on ${target} to execute command { ${name}: ... } (missing ${missing.join(', ')})`);
}
