import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { ConnectionString } from 'mongodb-connection-string-url';
import { MongoTestServer, type MongoTestServerOptions } from './mongo/server.js';

export interface MongoTarget {
  /** Connection string without credentials. */
  url: string;
  user: string | undefined;
  password: string | undefined;
  /** The in-process test server, or undefined when TEST_MONGODB_URL points at a real one. */
  server: MongoTestServer | undefined;
  client(): Promise<MongoClient>;
  database(prefix: string): string;
  stop(): Promise<void>;
}

/**
 * The MongoDB the tests use: the in-process wire-protocol test server by default (the primary of a
 * one-member replica set rs0, with authentication), or a real server when TEST_MONGODB_URL is set
 * (e.g. mongodb://localhost:27017/?replicaSet=rs0, or with user:password@ for auth).
 */
export async function startMongoTarget(options: MongoTestServerOptions = {}): Promise<MongoTarget> {
  const real = process.env.TEST_MONGODB_URL;
  let server: MongoTestServer | undefined;
  let url: string;
  let user: string | undefined;
  let password: string | undefined;
  if (real !== undefined && real !== '') {
    const parsed = new ConnectionString(real);
    user = parsed.username === '' ? undefined : decodeURIComponent(parsed.username);
    password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
    parsed.username = '';
    parsed.password = '';
    url = parsed.toString().replace(/\/$/, '');
  } else {
    user = 'legrimoire';
    password = 'grimoire-test-password';
    server = new MongoTestServer({ users: { [user]: password }, replicaSet: 'rs0', ...options });
    url = await server.start();
  }
  const clients: MongoClient[] = [];
  const made: string[] = [];
  return {
    url,
    user,
    password,
    server,
    client: async () => {
      const client = new MongoClient(url, { ...(user === undefined ? {} : { auth: { username: user, password } }), authSource: 'admin', serverSelectionTimeoutMS: 5000 });
      await client.connect();
      clients.push(client);
      return client;
    },
    database: (prefix) => {
      const name = `${prefix}_${randomBytes(3).toString('hex')}`;
      made.push(name);
      return name;
    },
    stop: async () => {
      if (server === undefined && clients[0] !== undefined) {
        for (const name of made) await clients[0].db(name).dropDatabase().catch(() => undefined);
      }
      for (const client of clients) await client.close();
      await server?.stop();
    },
  };
}

/** The environment that points Ferry at `database` on the test MongoDB, with its credentials when it has them. */
export function mongoEnv(target: MongoTarget, database: string, backups: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    MONGODB_URL: target.url,
    MONGODB_DB_NAME: database,
    ...(target.user === undefined ? {} : { MONGODB_USER: target.user }),
    ...(target.password === undefined ? {} : { MONGODB_PASSWORD: target.password }),
    BACKUP_DIRECTORY: backups,
    ...extra,
  };
}
