import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const SNIPPET = fileURLToPath(new URL('../../examples/le-grimoire/docker-compose.ferry.yml', import.meta.url));

/**
 * Names in Le Grimoire's docker-compose.prod.yml (github.com/sparck75/le-grimoire, read at commit
 * 9d39cf3, the newest: mongodb, db, backend, frontend, redis, nginx): the snippet is merged with it by a second -f, so it must use these exactly.
 */
const PROD = {
  network: 'grimoire-network',
  uploadsVolume: 'uploaded_images',
  postgresService: 'db',
  postgresDatabase: 'le_grimoire',
  mongoService: 'mongodb',
};

interface Service {
  image?: string;
  profiles?: string[];
  env_file?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  networks?: string[];
  depends_on?: string[];
}

describe('examples/le-grimoire/docker-compose.ferry.yml', () => {
  const compose = parse(readFileSync(SNIPPET, 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown>; networks: Record<string, unknown> };
  const ferry = compose.services.ferry as Service;

  it('is a ferry service of the image built from Ferry\'s Dockerfile, kept out of `docker compose up`', () => {
    expect(Object.keys(compose.services)).toEqual(['ferry']);
    expect(ferry.image).toBe('ferry:0.1.0');
    expect(ferry.profiles).toEqual(['tools']);
    expect(ferry.env_file).toBe('.env.production');
  });

  it('joins the app network, mounts the uploads volume read-only and the backups folder, and names the real volume and network', () => {
    expect(ferry.networks).toEqual([PROD.network]);
    expect(Object.keys(compose.networks)).toEqual([PROD.network]);
    expect(Object.keys(compose.volumes)).toEqual([PROD.uploadsVolume]);
    expect(ferry.volumes).toContain(`${PROD.uploadsVolume}:/uploads:ro`);
    expect(ferry.volumes).toContain('./backups:/backups');
    const env = ferry.environment ?? {};
    expect(env.UPLOADS_DIR).toBe('/uploads');
    expect(env.BACKUP_DIRECTORY).toBe('/backups');
    const pg = new URL(env.DATABASE_URL ?? '');
    expect([pg.hostname, pg.port, pg.pathname]).toEqual([PROD.postgresService, '5432', `/${PROD.postgresDatabase}`]);
    // The scripts' container names would turn on docker exec, which the image has no docker for.
    const mongo = new URL(env.MONGODB_URL ?? '');
    expect([mongo.hostname, mongo.port, mongo.searchParams.get('authSource')]).toEqual([PROD.mongoService, '27017', 'admin']);
    expect(ferry.depends_on).toEqual([PROD.postgresService, PROD.mongoService]);
    for (const name of ['POSTGRES_CONTAINER', 'MONGODB_CONTAINER', 'BACKEND_CONTAINER']) expect(env[name]).toBe('');
    // Secrets come from the env file, interpolated: none is written in the snippet.
    expect(readFileSync(SNIPPET, 'utf8')).not.toMatch(/PASSWORD:\s*\S/);
  });
});
