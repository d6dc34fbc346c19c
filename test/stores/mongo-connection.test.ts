import { describe, expect, it } from 'vitest';
import { mongodbConfigSchema } from '../../src/config/schema.js';
import { connectMongo, databaseName, describeMongo, mongoError } from '../../src/stores/mongo/connection.js';

const config = (url: string, extra: Record<string, unknown> = {}) => mongodbConfigSchema.parse({ url, ...extra });

describe('MongoDB connection strings, read as the driver reads them', () => {
  it('describes seed lists, mongodb+srv and credentials without the password', () => {
    expect(describeMongo(config('mongodb://app:s3cret@db1:27017,db2:27018/legrimoire?replicaSet=rs0&authSource=admin'))).toBe('mongodb app@db1:27017,db2:27018/legrimoire');
    expect(describeMongo(config('mongodb+srv://app%40corp:p%40ss@cluster0.example.net/shop?retryWrites=true'))).toBe('mongodb+srv app@corp@cluster0.example.net/shop');
    expect(describeMongo(config('mongodb://[::1]:27017,127.0.0.1/x', { user: 'backup' }))).toBe('mongodb backup@[::1]:27017,127.0.0.1/x');
    expect(describeMongo(config('mongodb://db/x?tls=true&tlsCAFile=/etc/ca.pem&readPreference=secondaryPreferred'))).toBe('mongodb db/x');
  });

  it('takes the database from the URL, percent-decoded, unless one is configured', () => {
    expect(databaseName(config('mongodb://a:1,b:2/le%20grimoire?replicaSet=rs0'))).toBe('le grimoire');
    expect(databaseName(config('mongodb://a:1/ignored', { database: 'chosen' }))).toBe('chosen');
    expect(() => databaseName(config('mongodb://a:1,b:2/?replicaSet=rs0'))).toThrow(/no database named in MONGODB_DB_NAME or in the URL/);
  });

  it('refuses what is not a connection string before connecting, and names every host it could not reach', async () => {
    // The configuration refuses another scheme when it is read; the connection refuses it too, for library callers.
    expect(() => config('http://db:27017/x')).toThrow(/the scheme http:\/\/ is not MongoDB/);
    await expect(connectMongo({ ...config('mongodb://db:27017/x'), url: 'http://db:27017/x' })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    // A host the driver cannot percent-decode (found by the property test): a configuration error, not "this is a bug".
    await expect(connectMongo(config('mongodb://%4/app'))).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: 'MONGODB_URL (mongodb.url) is not a connection string the driver accepts: URI malformed' });
    const error = mongoError(config('mongodb://u:pw-not-shown@db1:1,db2:2/x'), Object.assign(new Error('connect ECONNREFUSED'), { name: 'MongoServerSelectionError' }));
    expect(error.message).toBe('cannot connect to mongodb u@db1:1,db2:2/x: no answer from db1:1,db2:2 within 10 s (connect ECONNREFUSED)');
    expect(error.message).not.toContain('pw-not-shown');
  });
});
