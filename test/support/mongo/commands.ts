import { Binary, BSON, Int32, Long, ObjectId, type Document } from 'bson';
import { authorize, privilegesOf } from './roles.js';
import { ScramConversation } from './scram.js';
import { checkNewUniqueIndex, uniqueViolation } from './unique.js';
import { checkValidatorSupported, validationFailure } from './validator.js';
import { checkCreateOptions, checkIndexSpec, parseVersion, wireVersion } from './versions.js';
import { CommandError, type MongoTestServer } from './server.js';
import { idKey, type StoredCollection } from './storage.js';
import { element, rawDocument, type IncomingMessage } from './wire.js';

export interface ConnectionState {
  authenticated: boolean;
  /** The logged-in user, when authentication is on. */
  user?: string;
  scram?: ScramConversation;
}

type Handler = (server: MongoTestServer, state: ConnectionState, command: Document, db: string) => Document | Buffer;

const MAX_BATCH_BYTES = 16 * 1024 * 1024;
/** Cluster times are Timestamp(CLUSTER_TIME_SECONDS, operation number): one number orders them. */
const CLUSTER_TIME_SECONDS = 1_750_000_000;
/** Fields drivers add to every command, never part of what a command means. */
const ENVELOPE = new Set(['$db', 'lsid', '$clusterTime', '$readPreference', 'writeConcern', 'readConcern', 'maxTimeMS', 'comment', 'apiVersion']);

const num = (value: unknown, fallback: number): number => (value === undefined || value === null ? fallback : Number((value as { valueOf(): unknown }).valueOf()));


function hello(server: MongoTestServer, _state: ConnectionState, command: Document): Document {
  const me = `127.0.0.1:${server.port}`;
  const member = server.options.replicaSet === undefined ? {} : {
    setName: server.options.replicaSet,
    setVersion: new Int32(1),
    hosts: [me],
    primary: me,
    me,
    secondary: false,
    electionId: new ObjectId('7fffffff0000000000000001'),
  };
  return {
    ...member,
    logicalSessionTimeoutMinutes: new Int32(30),
    ismaster: true,
    isWritablePrimary: true,
    helloOk: true,
    maxBsonObjectSize: new Int32(16 * 1024 * 1024),
    maxMessageSizeBytes: new Int32(48_000_000),
    maxWriteBatchSize: new Int32(100_000),
    localTime: new Date(),
    minWireVersion: new Int32(0),
    maxWireVersion: new Int32(wireVersion(server.version)),
    readOnly: false,
    ...(command.saslSupportedMechs !== undefined ? { saslSupportedMechs: ['SCRAM-SHA-256'] } : {}),
    ok: 1,
  };
}

function requireCollection(server: MongoTestServer, db: string, name: string): StoredCollection {
  const collection = server.storage.get(db, name);
  if (collection === undefined) throw new CommandError(26, 'NamespaceNotFound', `ns does not exist: ${db}.${name}`);
  return collection;
}

function requireEmptyFilter(filter: unknown, command: string): void {
  if (filter !== undefined && filter !== null && Object.keys(filter as Document).length > 0) {
    throw new CommandError(2, 'BadValue', `${command} with a filter is not implemented by the Ferry test server`);
  }
}

function cursorReply(server: MongoTestServer, ns: string, docs: Buffer[], batchSize: number, first: boolean, existingId?: bigint, atClusterTime?: number): Buffer {
  let bytes = 0;
  let cursor = existingId === undefined ? undefined : server.cursors.get(existingId);
  const source = cursor?.docs ?? docs;
  let position = cursor?.position ?? 0;
  const batch: Buffer[] = [];
  while (position < source.length && batch.length < batchSize) {
    const doc = source[position]!;
    if (batch.length > 0 && bytes + doc.length > MAX_BATCH_BYTES) break;
    batch.push(doc);
    bytes += doc.length;
    position++;
  }
  let id = 0n;
  if (position < source.length) {
    id = existingId ?? server.nextCursorId++;
    cursor = cursor ?? { ns, docs: source, position };
    cursor.position = position;
    server.cursors.set(id, cursor);
  } else if (existingId !== undefined) {
    server.cursors.delete(existingId);
  }
  const snapshot = atClusterTime === undefined ? [] : [element.timestamp('atClusterTime', CLUSTER_TIME_SECONDS, atClusterTime)];
  const cursorDoc = rawDocument([element.array(first ? 'firstBatch' : 'nextBatch', batch), element.long('id', id), element.string('ns', ns), ...snapshot]);
  return rawDocument([element.document('cursor', cursorDoc), element.double('ok', 1)]);
}

function cursorOf(server: MongoTestServer, ns: string, docs: Document[]): Buffer {
  return cursorReply(server, ns, docs.map((d) => Buffer.from(BSON.serialize(d))), 1_000_000, true);
}

function withoutEnvelope(command: Document, skip: string[]): Document {
  const out: Document = {};
  for (const [key, value] of Object.entries(command)) if (!ENVELOPE.has(key) && !skip.includes(key)) out[key] = value;
  return out;
}

/** The document with an ObjectId _id in front, as mongod stores a document sent without one. */
function withGeneratedId(raw: Buffer): Buffer {
  const element = Buffer.concat([Buffer.from([0x07]), Buffer.from('_id\0', 'latin1'), new ObjectId().id]);
  const out = Buffer.concat([raw.subarray(0, 4), element, raw.subarray(4)]);
  out.writeInt32LE(out.length, 0);
  return out;
}

function insertInto(server: MongoTestServer, db: string, name: string, sent: Buffer[], ordered: boolean, bypassValidation: boolean): Document {
  const collection = server.storage.get(db, name) ?? server.storage.create(db, name);
  if (collection.type === 'view') throw new CommandError(166, 'CommandNotSupportedOnView', `Namespace ${db}.${name} is a view, not a collection`);
  const writeErrors: Document[] = [];
  let n = 0;
  server.operationTime++;
  for (const [index, original] of sent.entries()) {
    const raw = idKey(original) === undefined && collection.type === 'collection' ? withGeneratedId(original) : original;
    const invalid = bypassValidation ? undefined : validationFailure(collection.options.validator, raw);
    if (invalid !== undefined) {
      writeErrors.push({ index: new Int32(index), code: new Int32(121), errmsg: `Document failed validation: ${invalid}`, errInfo: { failingDocumentId: idKey(raw)?.value ?? null } });
      if (ordered) break;
      continue;
    }
    const id = idKey(raw);
    if (id !== undefined && collection.ids.has(id.key)) {
      writeErrors.push({
        index: new Int32(index),
        code: new Int32(11000),
        errmsg: `E11000 duplicate key error collection: ${db}.${name} index: _id_ dup key: { _id: ${JSON.stringify(BSON.EJSON.serialize(id.value))} }`,
        keyPattern: { _id: new Int32(1) },
        keyValue: { _id: id.value },
      });
      if (ordered) break;
      continue;
    }
    const broken = uniqueViolation(collection, raw);
    if (broken !== undefined) {
      writeErrors.push({ index: new Int32(index), code: new Int32(11000), errmsg: `E11000 duplicate key error collection: ${db}.${name} index: ${String(broken.name)}`, keyPattern: broken.key });
      if (ordered) break;
      continue;
    }
    if (id !== undefined) collection.ids.add(id.key);
    collection.docs.push(raw);
    collection.times.push(server.operationTime);
    n++;
  }
  return { n: new Int32(n), ...(writeErrors.length > 0 ? { writeErrors } : {}), ok: 1 };
}

function checkIdIndex(spec: Document | undefined, ns: string): void {
  if (spec === undefined) return;
  const key = (spec.key ?? {}) as Document;
  if (Object.keys(key).join() !== '_id' || num(key._id, 0) !== 1) {
    throw new CommandError(2, 'BadValue', `The field 'key' for an _id index must be {_id: 1}, but got ${BSON.EJSON.stringify(key)}`);
  }
  if (spec.ns !== undefined && String(spec.ns) !== ns) {
    throw new CommandError(2, 'BadValue', `The value of the field 'ns' (${String(spec.ns)}) doesn't match the namespace '${ns}'`);
  }
}

const HANDLERS: Record<string, Handler> = {
  ismaster: hello,
  isMaster: hello,
  hello,
  ping: () => ({ ok: 1 }),
  buildInfo: (server) => ({ version: server.version, versionArray: [...parseVersion(server.version), 0, 0].map((n) => new Int32(n)), gitVersion: 'ferry-test-server', ok: 1 }),
  endSessions: () => ({ ok: 1 }),
  saslStart: (server, state, command) => {
    if (String(command.mechanism) !== 'SCRAM-SHA-256') throw new CommandError(2, 'BadValue', `mechanism ${String(command.mechanism)} is not supported by the Ferry test server`);
    state.scram = new ScramConversation();
    const reply = state.scram.start(Buffer.from((command.payload as Binary).buffer));
    return { conversationId: new Int32(1), done: false, payload: new Binary(Buffer.from(reply)), ok: 1 };
  },
  saslContinue: (server, state, command) => {
    const scram = state.scram;
    if (scram === undefined) throw new CommandError(17, 'ProtocolError', 'saslContinue without saslStart');
    const final = scram.finish(Buffer.from((command.payload as Binary).buffer), server.user(scram.user)?.password);
    state.scram = undefined;
    if (final === undefined) throw new CommandError(18, 'AuthenticationFailed', 'Authentication failed.');
    state.authenticated = true;
    state.user = scram.user;
    return { conversationId: new Int32(1), done: true, payload: new Binary(Buffer.from(final)), ok: 1 };
  },
  listDatabases: (server) => ({
    databases: [...server.storage.databases.keys()].map((name) => ({ name, sizeOnDisk: new Long(0), empty: false })),
    ok: 1,
  }),
  listCollections: (server, _state, command, db) => {
    const filter = (command.filter ?? {}) as Document;
    const unsupported = Object.keys(filter).filter((k) => k !== 'name');
    if (unsupported.length > 0) throw new CommandError(2, 'BadValue', `listCollections filter on ${unsupported.join(', ')} is not implemented by the Ferry test server`);
    const collections = [...server.storage.database(db).values()].filter((c) => filter.name === undefined || c.name === String(filter.name));
    return cursorOf(server, `${db}.$cmd.listCollections`, collections.map((c) => ({
      name: c.name,
      type: c.type,
      options: c.options,
      info: { readOnly: c.type === 'view', ...(c.type === 'collection' ? { uuid: c.uuid } : {}) },
      ...(c.type === 'collection' ? { idIndex: c.indexes[0] } : {}),
    })));
  },
  listIndexes: (server, _state, command, db) => {
    const collection = requireCollection(server, db, String(command.listIndexes));
    return cursorOf(server, `${db}.${collection.name}`, collection.indexes);
  },
  find: (server, _state, command, db) => {
    requireEmptyFilter(command.filter, 'find');
    for (const option of ['sort', 'skip', 'limit', 'projection']) {
      if (command[option] !== undefined) throw new CommandError(2, 'BadValue', `find with ${option} is not implemented by the Ferry test server`);
    }
    const name = String(command.find);
    const collection = server.storage.get(db, name);
    const readConcern = (command.readConcern ?? {}) as Document;
    if (readConcern.level !== 'snapshot') return cursorReply(server, `${db}.${name}`, collection === undefined ? [] : [...collection.docs], num(command.batchSize, 101), true);
    if (server.options.replicaSet === undefined) throw new CommandError(72, 'InvalidOptions', 'readConcern level snapshot is only valid on a replica set or a sharded cluster');
    // A snapshot read sees the documents inserted up to its cluster time, and says which time that was.
    const at = readConcern.atClusterTime === undefined ? server.operationTime : Number((readConcern.atClusterTime as { low?: number }).low ?? 0);
    const visible = (collection?.docs ?? []).filter((_, i) => (collection?.times[i] ?? 0) <= at);
    return cursorReply(server, `${db}.${name}`, visible, num(command.batchSize, 101), true, undefined, at);
  },
  getMore: (server, _state, command) => {
    const id = BigInt(String(command.getMore));
    const cursor = server.cursors.get(id);
    if (cursor === undefined) throw new CommandError(43, 'CursorNotFound', `cursor id ${id} not found`);
    return cursorReply(server, cursor.ns, [], num(command.batchSize, 1_000_000), false, id);
  },
  killCursors: (server, _state, command) => {
    const ids = (command.cursors as Long[]).map((c) => BigInt(c.toString()));
    for (const id of ids) server.cursors.delete(id);
    return { cursorsKilled: ids.map((id) => Long.fromBigInt(id)), cursorsNotFound: [], cursorsAlive: [], cursorsUnknown: [], ok: 1 };
  },
  count: (server, _state, command, db) => {
    requireEmptyFilter(command.query, 'count');
    return { n: new Int32(server.storage.get(db, String(command.count))?.docs.length ?? 0), ok: 1 };
  },
  insert: (server, _state, command, db) => insertInto(server, db, String(command.insert), command.documents as Buffer[], command.ordered !== false, command.bypassDocumentValidation === true),
  create: (server, _state, command, db) => {
    const name = String(command.create);
    if (server.storage.get(db, name) !== undefined) throw new CommandError(48, 'NamespaceExists', `Collection ${db}.${name} already exists.`);
    // idIndex (mongorestore sends it) describes the _id index: mongod checks it and keeps it out of the options listCollections shows.
    const options = withoutEnvelope(command, ['create', 'txnNumber', 'autocommit', 'startTransaction', 'idIndex']);
    checkIdIndex(command.idIndex as Document | undefined, `${db}.${name}`);
    checkCreateOptions(server.version, options);
    checkValidatorSupported(options.validator);
    server.storage.create(db, name, options, options.viewOn !== undefined ? 'view' : options.timeseries !== undefined ? 'timeseries' : 'collection');
    return { ok: 1 };
  },
  collStats: (server, _state, command, db) => {
    const collection = requireCollection(server, db, String(command.collStats));
    const size = collection.docs.reduce((n, d) => n + d.length, 0);
    return { ns: `${db}.${collection.name}`, size: new Int32(size), count: new Int32(collection.docs.length), storageSize: new Int32(size), nindexes: new Int32(collection.indexes.length), ok: 1 };
  },
  connectionStatus: (server, state, command) => {
    const user = state.user === undefined ? undefined : server.user(state.user);
    return {
      authInfo: {
        authenticatedUsers: user === undefined ? [] : [{ user: state.user, db: 'admin' }],
        authenticatedUserRoles: user?.roles ?? [],
        ...(command.showPrivileges === true ? { authenticatedUserPrivileges: user === undefined ? [] : privilegesOf(user) } : {}),
      },
      ok: 1,
    };
  },
  drop: (server, _state, command, db) => {
    const collection = requireCollection(server, db, String(command.drop));
    server.storage.database(db).delete(collection.name);
    return { ns: `${db}.${collection.name}`, nIndexesWas: new Int32(collection.indexes.length), ok: 1 };
  },
  dropDatabase: (server, _state, _command, db) => {
    server.storage.databases.delete(db);
    return { ok: 1 };
  },
  createIndexes: (server, _state, command, db) => {
    const name = String(command.createIndexes);
    const collection = server.storage.get(db, name) ?? server.storage.create(db, name);
    const before = collection.indexes.length;
    for (const spec of command.indexes as Document[]) {
      const existing = collection.indexes.find((i) => i.name === spec.name);
      if (existing !== undefined) {
        if (Buffer.from(BSON.serialize(existing.key as Document)).equals(BSON.serialize(spec.key as Document))) continue;
        throw new CommandError(86, 'IndexKeySpecsConflict', `An existing index has the same name (${String(spec.name)}) but different key`);
      }
      checkIndexSpec(server.version, spec);
      checkNewUniqueIndex(db, collection, spec);
      collection.indexes.push({ v: new Int32(2), ...spec });
    }
    return { numIndexesBefore: new Int32(before), numIndexesAfter: new Int32(collection.indexes.length), createdCollectionAutomatically: false, ok: 1 };
  },
  renameCollection: (server, _state, command) => {
    const [fromDb, ...fromRest] = String(command.renameCollection).split('.');
    const [toDb, ...toRest] = String(command.to).split('.');
    const from = requireCollection(server, fromDb ?? '', fromRest.join('.'));
    if (from.type === 'timeseries') throw new CommandError(72, 'InvalidOptions', `cannot rename a time-series collection: ${String(command.renameCollection)}`);
    if (from.type === 'view') throw new CommandError(166, 'CommandNotSupportedOnView', `cannot rename a view: ${String(command.renameCollection)}`);
    const toName = toRest.join('.');
    if (server.storage.get(toDb ?? '', toName) !== undefined) {
      if (command.dropTarget !== true) throw new CommandError(48, 'NamespaceExists', `target namespace ${String(command.to)} exists`);
      server.storage.database(toDb ?? '').delete(toName);
    }
    server.storage.database(fromDb ?? '').delete(from.name);
    from.name = toName;
    server.storage.database(toDb ?? '').set(toName, from);
    return { ok: 1 };
  },
};

const OPEN_COMMANDS = new Set(['ismaster', 'isMaster', 'hello', 'saslStart', 'saslContinue', 'ping', 'buildInfo', 'endSessions', 'connectionStatus']);

export function handleCommand(server: MongoTestServer, state: ConnectionState, message: IncomingMessage): Document | Buffer {
  const name = Object.keys(message.command)[0] ?? '';
  const handler = HANDLERS[name];
  if (handler === undefined) {
    throw new CommandError(59, 'CommandNotFound', `no such command: '${name}' is not implemented by the Ferry test server`);
  }
  if (!state.authenticated && !OPEN_COMMANDS.has(name)) {
    throw new CommandError(13, 'Unauthorized', `command ${name} requires authentication`);
  }
  authorize(state.user === undefined ? undefined : server.user(state.user), name, message.command, message.database);
  return handler(server, state, message.command, message.database);
}
