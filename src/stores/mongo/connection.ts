import { createRequire } from 'node:module';
import type { ConnectionString } from 'mongodb-connection-string-url';
import type { MongoClient, MongoClientOptions, ReadPreferenceMode } from 'mongodb';
import { Redactor, type MongodbConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';
import { parseContainer } from '../../process/container.js';
import { openTunnel, type Tunnel } from '../../process/tunnel.js';

let parser: typeof ConnectionString | undefined;

/**
 * The connection string as the driver itself reads it: seed lists (a,b:27018), mongodb+srv://,
 * percent-encoded credentials and database. `new URL()` refuses any multi-host string.
 */
export function parseMongoUrl(url: string): ConnectionString | undefined {
  // Loaded on first use, like the driver: commands that never touch MongoDB do not pay for it.
  parser ??= (createRequire(import.meta.url)('mongodb-connection-string-url') as { ConnectionString: typeof ConnectionString }).ConnectionString;
  try {
    return new parser(url);
  } catch {
    return undefined;
  }
}

/** "mongodb legrimoire@db1:27017,db2:27017/legrimoire", never with a password. */
export function describeMongo(config: MongodbConfig, database = databaseName(config)): string {
  const parsed = parseMongoUrl(config.url);
  if (parsed === undefined) return `mongodb (unparseable URL)/${database}`;
  const user = parsed.username !== '' ? decodeURIComponent(parsed.username) : config.user;
  const scheme = parsed.isSRV ? 'mongodb+srv' : 'mongodb';
  const through = config.exec === undefined ? '' : ` in ${parseContainer(config.exec, 'mongodb.exec').label}`;
  return `${scheme} ${user === undefined ? '' : `${user}@`}${parsed.hosts.join(',') || 'localhost'}/${database}${through}`;
}

/** The hosts of the URL as written (host:port), for messages. */
export function hostsOf(config: MongodbConfig): string {
  return parseMongoUrl(config.url)?.hosts.join(',') ?? '?';
}

export function databaseName(config: MongodbConfig): string {
  if (config.database !== undefined) return config.database;
  const parsed = parseMongoUrl(config.url);
  const name = parsed === undefined ? '' : decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (name !== '') return name;
  throw new FerryError('CONFIG_INVALID', 'mongodb.database: no database named in MONGODB_DB_NAME or in the URL', {
    hint: 'Set MONGODB_DB_NAME (or mongodb.database), or end MONGODB_URL with /<database>.',
  });
}

/** What the connection is for: backups read where mongodb.read_preference says, restores write to the primary. */
export type MongoPurpose = 'read' | 'write';

/** Connects with the configured credentials (URL, or MONGODB_USER/MONGODB_PASSWORD) and bounded timeouts. */
export async function connectMongo(config: MongodbConfig, purpose: MongoPurpose = 'write'): Promise<MongoClient> {
  const parsed = parseMongoUrl(config.url);
  if (parsed === undefined) {
    throw new FerryError('CONFIG_INVALID', 'mongodb.url is not a MongoDB connection string', {
      hint: 'Write it as mongodb://host:27017/db, mongodb://host1:27017,host2:27017/db?replicaSet=rs0 or mongodb+srv://cluster.example.net/db.',
    });
  }
  const timeout = config.server_selection_timeout_seconds * 1000;
  const options: MongoClientOptions = {
    serverSelectionTimeoutMS: timeout,
    connectTimeoutMS: timeout,
    appName: 'ferry',
    ignoreUndefined: false,
  };
  if (parsed.username === '' && config.user !== undefined) {
    options.auth = { username: config.user, ...(config.password === undefined ? {} : { password: config.password }) };
    // The scripts' users live in admin (authSource=admin); a URL that says otherwise wins.
    if (!parsed.searchParams.has('authSource')) options.authSource = 'admin';
  }
  // A restore writes, so it needs the primary whatever the URL prefers.
  if (purpose === 'write') options.readPreference = 'primary';
  else if (config.read_preference !== undefined) options.readPreference = config.read_preference as ReadPreferenceMode;
  const tunnel = config.exec === undefined ? undefined : await tunnelFor(config, parsed);
  // Loaded on first use: the driver is the heaviest import, and list, health and verify never need it.
  const { MongoClient } = await import('mongodb');
  let client: InstanceType<typeof MongoClient>;
  try {
    client = new MongoClient(tunnel === undefined ? config.url : throughTunnel(parsed, tunnel), options);
  } catch (cause) {
    await tunnel?.close();
    // The driver reads the URL again here, and throws plain errors (URIError, a parse error) on parts its parser let pass.
    const reason = new Redactor(config.password === undefined ? [] : [config.password]).redact((cause as Error).message);
    throw new FerryError('CONFIG_INVALID', `MONGODB_URL (mongodb.url) is not a connection string the driver accepts: ${reason}`, {
      hint: 'Write it as mongodb://host:27017/db, with special characters of the user and password percent-encoded.',
      cause,
    });
  }
  if (tunnel !== undefined) {
    const close = client.close.bind(client);
    client.close = async (force?: boolean) => {
      try {
        await close(force);
      } finally {
        await tunnel.close();
      }
    };
  }
  try {
    await client.connect();
    return client;
  } catch (cause) {
    await client.close().catch(() => undefined);
    throw tunnel?.failure() ?? mongoError(config, cause);
  }
}

/**
 * mongodb.exec: the server publishes no port, so each of the driver's connections goes through
 * `docker exec -i` to 127.0.0.1:<the URL's port> inside the container. The wire protocol passes
 * unchanged (authentication, sessions, snapshot reads, collection UUIDs), so a backup through the
 * container is the same backup as over TCP.
 */
async function tunnelFor(config: MongodbConfig, parsed: ConnectionString): Promise<Tunnel> {
  if (parsed.isSRV) {
    throw new FerryError('CONFIG_INVALID', 'mongodb.exec cannot be used with a mongodb+srv:// URL', {
      hint: 'Write MONGODB_URL as mongodb://user:password@localhost:27017/db: with mongodb.exec the server is reached inside its container.',
    });
  }
  const container = parseContainer(config.exec as string, 'mongodb.exec');
  const port = Number(/:(\d+)$/.exec(parsed.hosts[0] ?? '')?.[1] ?? 27017);
  return openTunnel(container, port, 'mongodb.sock', new AbortController().signal);
}

/** The URL with its hosts replaced by the tunnel's socket: one server, reached directly. */
function throughTunnel(parsed: ConnectionString, tunnel: Tunnel): string {
  const url = parsed.clone();
  url.hosts = [encodeURIComponent(tunnel.socketPath)];
  // Replica-set members announce names that resolve only on the container network.
  url.searchParams.delete('replicaSet');
  url.searchParams.set('directConnection', 'true');
  return url.toString();
}

export function mongoError(config: MongodbConfig, cause: unknown): FerryError {
  if (cause instanceof FerryError) return cause;
  const where = describeMongo(config, safeDatabaseName(config));
  const message = (cause as Error | undefined)?.message ?? String(cause);
  const code = (cause as { name?: unknown; code?: unknown } | undefined)?.name === 'MongoServerError' ? (cause as { code?: unknown }).code : undefined;
  if (code === 18 || /Authentication failed/i.test(message)) {
    return new FerryError('MONGO_AUTH', `authentication failed for ${where}`, {
      hint: 'Check MONGODB_USER/MONGODB_PASSWORD or the credentials in MONGODB_URL, and authSource (users created by the image live in admin: ?authSource=admin).',
      cause,
    });
  }
  if (code === 13) {
    return new FerryError('MONGO_AUTH', `${where}: not authorized: ${message}`, {
      hint: 'Give the user the read role (backup) or readWrite (restore) on the database; see docs/mongodb.md for the exact actions.',
      cause,
    });
  }
  if ((cause as Error | undefined)?.name === 'MongoServerSelectionError' || /ECONNREFUSED|ENOTFOUND|timed out/i.test(message)) {
    return new FerryError('MONGO_CONNECT', `cannot connect to ${where}: no answer from ${hostsOf(config)} within ${config.server_selection_timeout_seconds} s (${message.split('\n')[0]})`, {
      hint: 'Check that MongoDB is running and that the host and port in MONGODB_URL are right (from inside Docker Compose the host is the service name).',
      cause,
    });
  }
  return new FerryError('MONGO_FAILED', `${where}: ${message}`, { hint: 'Check the MongoDB server log for the cause, then run the command again.', cause });
}

export function safeDatabaseName(config: MongodbConfig): string {
  try {
    return databaseName(config);
  } catch {
    return '?';
  }
}
