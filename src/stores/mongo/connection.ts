import type { MongoClient, MongoClientOptions } from 'mongodb';
import type { MongodbConfig } from '../../config/index.js';
import { FerryError } from '../../errors/index.js';

/** "mongodb legrimoire@db:27017/legrimoire", never with a password. */
export function describeMongo(config: MongodbConfig, database = databaseName(config)): string {
  try {
    const u = new URL(config.url);
    const user = u.username !== '' ? decodeURIComponent(u.username) : config.user;
    return `mongodb ${user === undefined ? '' : `${user}@`}${u.host || 'localhost'}/${database}`;
  } catch {
    return `mongodb (unparseable URL)/${database}`;
  }
}

export function databaseName(config: MongodbConfig): string {
  if (config.database !== undefined) return config.database;
  try {
    const name = decodeURIComponent(new URL(config.url).pathname.replace(/^\//, ''));
    if (name !== '') return name;
  } catch {
    // Reported by describeMongo and connect.
  }
  throw new FerryError('CONFIG_INVALID', 'mongodb.database: no database named in MONGODB_DB_NAME or in the URL', {
    hint: 'Set MONGODB_DB_NAME (or mongodb.database), or end MONGODB_URL with /<database>.',
  });
}

/** Connects with the configured credentials (URL, or MONGODB_USER/MONGODB_PASSWORD) and bounded timeouts. */
export async function connectMongo(config: MongodbConfig): Promise<MongoClient> {
  const timeout = config.server_selection_timeout_seconds * 1000;
  const options: MongoClientOptions = {
    serverSelectionTimeoutMS: timeout,
    connectTimeoutMS: timeout,
    appName: 'ferry',
    ignoreUndefined: false,
  };
  const u = new URL(config.url);
  if (u.username === '' && config.user !== undefined) {
    options.auth = { username: config.user, ...(config.password === undefined ? {} : { password: config.password }) };
    // The scripts' users live in admin (authSource=admin); a URL that says otherwise wins.
    if (!u.searchParams.has('authSource')) options.authSource = 'admin';
  }
  // Loaded on first use: the driver is the heaviest import, and list, health and verify never need it.
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(config.url, options);
  try {
    await client.connect();
    return client;
  } catch (cause) {
    await client.close().catch(() => undefined);
    throw mongoError(config, cause);
  }
}

export function mongoError(config: MongodbConfig, cause: unknown): FerryError {
  if (cause instanceof FerryError) return cause;
  const where = describeMongo(config);
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
      hint: 'Give the user the read role (backup) or readWrite (restore) on the database.',
      cause,
    });
  }
  if ((cause as Error | undefined)?.name === 'MongoServerSelectionError' || /ECONNREFUSED|ENOTFOUND|timed out/i.test(message)) {
    const host = (() => {
      try {
        return new URL(config.url).host;
      } catch {
        return '?';
      }
    })();
    return new FerryError('MONGO_CONNECT', `cannot connect to ${where}: no answer from ${host} within ${config.server_selection_timeout_seconds} s (${message.split('\n')[0]})`, {
      hint: 'Check that MongoDB is running and that the host and port in MONGODB_URL are right (from inside Docker Compose the host is the service name).',
      cause,
    });
  }
  return new FerryError('MONGO_FAILED', `${where}: ${message}`, { hint: 'Check the MongoDB server log for the cause, then run the command again.', cause });
}
