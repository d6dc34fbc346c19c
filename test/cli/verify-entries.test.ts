import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { tempDir } from '../support/tmp.js';

interface ManifestJson {
  stores: Record<string, { counts: Record<string, number> }>;
  entries: Array<{ path: string; type: string; size: number; sha256?: string }>;
}
interface Report { ok: boolean; findings: Array<{ entry: string; problem: string }>; warnings: string[] }

async function backedUp() {
  const work = await tempDir();
  const db = await createDatabase(uniqueName('ve'));
  await query(db, 'CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes SELECT i, \'r\' || i FROM generate_series(1, 120) i;');
  const uploads = join(work, 'uploads');
  mkdirSync(join(uploads, 'images'), { recursive: true });
  writeFileSync(join(uploads, 'images', 'a.jpg'), Buffer.alloc(1000, 3));
  writeFileSync(join(uploads, 'images', 'b.jpg'), Buffer.alloc(500, 4));
  const dir = join(work, 'backups');
  const env = { DATABASE_URL: pgUrl(db), UPLOADS_DIR: uploads, BACKUP_DIRECTORY: dir };
  expect((await ferry(['backup'], env)).code).toBe(0);
  const name = readdirSync(dir).find((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n))!;
  return { work, env, dir, name, archive: join(dir, name) };
}

type Extra = { name: string; type: 'file' | 'symlink' | 'link'; content?: Buffer; linkname?: string };

/**
 * Writes the archive again from its extracted entries plus `extras`, with a manifest edited by
 * `edit` and listing every file with its true size and sha256 (consistent, so only the checks under
 * test can object), manifest last as Ferry writes it. Sidecars are removed.
 */
async function rebuild(archive: string, edit: (m: ManifestJson) => void, extras: Extra[] = []): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-rebuild-'));
  try {
    execFileSync('tar', ['-xzf', archive, '-C', dir]);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ManifestJson;
    edit(manifest);
    const packer = pack();
    const writing = pipeline(packer, createGzip(), createWriteStream(archive));
    const add = (header: Parameters<typeof packer.entry>[0], content?: Buffer) => new Promise<void>((done, fail) => {
      packer.entry(header, content ?? Buffer.alloc(0), (error) => (error ? fail(error) : done()));
    });
    for (const entry of manifest.entries) {
      const path = join(dir, entry.path);
      if (entry.type === 'directory') await add({ name: entry.path, type: 'directory' });
      else if (entry.type === 'file') await add({ name: entry.path, type: 'file' }, readFileSync(path));
    }
    for (const extra of extras) {
      if (extra.type === 'file') {
        const content = extra.content ?? Buffer.from('x');
        await add({ name: extra.name, type: 'file' }, content);
        manifest.entries.push({ path: extra.name, type: 'file', size: content.length, sha256: createHash('sha256').update(content).digest('hex') });
      } else {
        await add({ name: extra.name, type: extra.type, linkname: extra.linkname ?? '' });
      }
    }
    await add({ name: 'manifest.json', type: 'file' }, Buffer.from(JSON.stringify(manifest, null, 2)));
    packer.finalize();
    await writing;
    for (const suffix of ['.manifest.json', '.sha256', '.verify.json']) rmSync(archive + suffix, { force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function verifyJson(env: Record<string, string>, name: string): Promise<{ code: number | null; report: Report; stderr: string }> {
  const result = await ferry(['verify', name, '--json'], env);
  // A failed run adds its error to the same document.
  return { code: result.code, report: (JSON.parse(result.stdout) as { archives: Report[] }).archives[0]!, stderr: result.stderr };
}

describe('verify checks what restore checks', () => {
  it('the untouched rebuild verifies (the instrument itself changes nothing), and a missing .sha256 sidecar is a warning', async () => {
    const { env, name, archive } = await backedUp();
    rmSync(`${archive}.sha256`);
    const warned = await ferry(['verify', name], env);
    expect(warned.code, warned.stdout + warned.stderr).toBe(0);
    expect(warned.stderr).toMatch(/has no \.sha256 sidecar/);
    await rebuild(archive, () => undefined);
    const { code, report } = await verifyJson(env, name);
    expect(code, JSON.stringify(report.findings)).toBe(0);
    expect(report.warnings[0]).toMatch(/has no \.sha256 sidecar/);
  });

  it('a manifest whose counts disagree with the data, rebuilt consistently: COPY rows and upload files → exit 2', async () => {
    const { env, name, archive } = await backedUp();
    await rebuild(archive, (m) => {
      const table = Object.keys(m.stores.postgres!.counts)[0]!;
      m.stores.postgres!.counts[table] = 119;
      m.stores.uploads!.counts.files = 3;
    });
    const { code, report } = await verifyJson(env, name);
    expect(code).toBe(2);
    const problems = report.findings.map((f) => f.problem);
    expect(problems).toContainEqual(expect.stringMatching(/postgresql\/database\.sql: table \S*recipes holds 120 rows, the manifest says 119/));
    expect(problems).toContainEqual('uploads/ holds 2 files, the manifest says 3');
  });

  it('traversal, absolute paths, a file written through a link the archive made, and hard links → exit 2, each named', async () => {
    const { env, name, archive } = await backedUp();
    await rebuild(archive, () => undefined, [
      { name: 'uploads/../../x', type: 'file' },
      { name: '/tmp/ferry-absolute', type: 'file' },
      { name: 'uploads/images/out', type: 'symlink', linkname: '/tmp' },
      { name: 'uploads/images/out/evil', type: 'file' },
      { name: 'uploads/images/hard.jpg', type: 'link', linkname: 'uploads/images/a.jpg' },
    ]);
    const { code, report } = await verifyJson(env, name);
    expect(code).toBe(2);
    const problems = report.findings.map((f) => f.problem);
    expect(problems).toContainEqual(expect.stringMatching(/^entry uploads\/\.\.\/\.\.\/x has a \.\. component/));
    expect(problems).toContainEqual(expect.stringMatching(/^entry \/tmp\/ferry-absolute has an absolute path/));
    expect(problems).toContainEqual(expect.stringMatching(/^entry uploads\/images\/out\/evil would be written through the symbolic link uploads\/images\/out/));
    expect(problems).toContainEqual(expect.stringMatching(/^entry uploads\/images\/hard\.jpg is a hard link to uploads\/images\/a\.jpg/));
  });
});
