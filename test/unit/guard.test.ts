import { describe, expect, it } from 'vitest';
import { isLocalHost } from '../../src/ops/restore/guard.js';
import { hostsOfUrl } from '../../src/util/url.js';

describe('the local-target guard', () => {
  it('knows which hosts are clearly local', () => {
    for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]', 'db', 'mongodb', 'postgres', 'api.localhost', 'host.docker.internal', '/var/run/postgresql', undefined]) {
      expect(isLocalHost(host), String(host)).toBe(true);
    }
    for (const host of ['db.prod.example.com', '10.0.0.5', '192.168.1.20', '2001:db8::1', 'prod-db.internal', 'cluster0.ab1cd.mongodb.net (SRV)']) {
      expect(isLocalHost(host), host).toBe(false);
    }
  });

  it('reads every host of a URL', () => {
    expect(hostsOfUrl('postgresql://app:pw@db.example.com:5432/le')).toEqual(['db.example.com']);
    expect(hostsOfUrl('mongodb://u:p@a:27017,b.example.com:27018/db?replicaSet=rs0')).toEqual(['a', 'b.example.com']);
    expect(hostsOfUrl('postgresql://[::1]:5432/db')).toEqual(['::1']);
    expect(hostsOfUrl('postgresql:///db?host=/var/run/postgresql')).toEqual(['/var/run/postgresql']);
    expect(hostsOfUrl('mongodb+srv://u:p@cluster0.mongodb.net/db')).toEqual(['cluster0.mongodb.net (SRV)']);
  });
});
