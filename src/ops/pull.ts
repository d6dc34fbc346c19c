import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { checksumLine, CHECKSUM_SUFFIX, DigestStream, MANIFEST_SUFFIX, parseManifest, PARTIAL_SUFFIX, VERIFY_SUFFIX, syncDirectory, writeFileAtomic } from '../archive/index.js';
import { FerryError } from '../errors/index.js';
import type { RemoteLocation } from '../remote/index.js';
import type { S3Repository } from '../repository/index.js';
import { formatBytes } from '../util/format.js';
import type { OperationContext } from './context.js';
import { recordedSha256 } from './catalog.js';
import { resolveChain } from './chain.js';
import { findCompleteBackup, localRepository, withRemote } from './remote.js';

export interface PullResult {
  name: string;
  path: string;
  size: number;
  sha256: string;
  /** False when the same archive was already in the backup directory. */
  downloaded: boolean;
  seconds: number;
  /** For a delta: the archives of its chain pulled with it (or found here already), its base first. */
  chain?: PullResult[];
}

async function expectedSha256(remote: S3Repository, name: string): Promise<string> {
  const sha256 = await recordedSha256(remote, name);
  if (sha256 === undefined) throw new FerryError('REMOTE_INCOMPLETE', `${remote.pathOf(name + CHECKSUM_SUFFIX)} is missing`, { hint: 'Run ferry push on the server, or pull another backup.' });
  return sha256;
}

/**
 * Downloads a remote backup into the backup directory: streamed to a .partial file while hashed,
 * compared with the remote .sha256 sidecar, fsynced, then renamed. A copy that does not match is
 * removed; an existing different file of the same name is never overwritten.
 */
export async function pullFrom(ctx: OperationContext, remote: S3Repository, reference: string): Promise<PullResult> {
  const backup = await findCompleteBackup(ctx, remote, reference);
  const { name } = backup;
  const sha256 = await expectedSha256(remote, name);
  const here = localRepository(ctx);
  const directory = ctx.config.backup.directory;
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const finalPath = join(directory, name);
  if (await stat(finalPath).then(() => true, () => false)) {
    if (await recordedSha256(here, name) === sha256) {
      ctx.log.info(`${name} is already in ${directory}`);
      return { name, path: finalPath, size: backup.size, sha256, downloaded: false, seconds: 0 };
    }
    throw new FerryError('ARCHIVE_EXISTS', `${finalPath} exists and is not the archive at ${backup.path}`, { hint: 'Move that file away, then pull again; Ferry never overwrites an archive.' });
  }
  // Held like a backup's: the next backup removes a .partial and sidecars nobody holds the lock for.
  const lock = await here.lock('pull');
  const started = Date.now();
  const partial = finalPath + PARTIAL_SUFFIX;
  const digest = new DigestStream();
  ctx.progress.start(`downloading ${backup.path}`, backup.size);
  digest.on('data', () => ctx.progress.update(digest.size));
  try {
    const writing = pipeline(digest, createWriteStream(partial, { mode: 0o600 }));
    writing.catch(() => undefined);
    await remote.store.download(name, digest, ctx.signal);
    await writing;
    const got = digest.digest();
    if (got.sha256 !== sha256) {
      throw new FerryError('REMOTE_CHECKSUM_MISMATCH', `${backup.path} is damaged: its sha256 is ${got.sha256}, its .sha256 sidecar says ${sha256} (${formatBytes(got.size)} read)`, {
        hint: 'Nothing was kept. Push the archive again from the server (ferry push <archive>), or pull an older backup.',
      });
    }
    const handle = await open(partial, 'r');
    await handle.sync().finally(() => handle.close());
    for (const suffix of [MANIFEST_SUFFIX, VERIFY_SUFFIX]) {
      const text = await remote.readSidecar(name, suffix);
      if (text !== undefined) await writeFileAtomic(finalPath + suffix, text);
    }
    await writeFileAtomic(finalPath + CHECKSUM_SUFFIX, checksumLine(sha256, name));
    await rename(partial, finalPath);
    await syncDirectory(directory);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  } finally {
    await lock.release();
  }
  const seconds = (Date.now() - started) / 1000;
  ctx.progress.done(`downloaded ${name}: ${formatBytes(backup.size)} in ${seconds.toFixed(1)} s, sha256 checked`);
  return { name, path: finalPath, size: backup.size, sha256, downloaded: true, seconds };
}

/** `ferry pull <name|latest>`, from storage.remote or from the location a reference names; a delta with its chain. */
export async function pull(ctx: OperationContext, reference: string, location?: RemoteLocation): Promise<PullResult> {
  return withRemote(ctx, async (remote) => {
    const pulled = await pullFrom(ctx, remote, reference);
    const chain = await pullChain(ctx, remote, pulled.name);
    return chain.length === 0 ? pulled : { ...pulled, chain };
  }, location);
}

/**
 * The bases a pulled delta needs, its own base first down to its full, as the remote holds them
 * (each with the manifest the one above it recorded); each pulled unless it is here already
 * (pullFrom refuses a different archive of the same name).
 */
async function pullChain(ctx: OperationContext, remote: S3Repository, name: string): Promise<PullResult[]> {
  const text = await remote.readSidecar(name, MANIFEST_SUFFIX);
  if (text === undefined) return [];
  const links = await resolveChain(remote, name, parseManifest(text.toString('utf8'), remote.pathOf(name + MANIFEST_SUFFIX)));
  const pulled: PullResult[] = [];
  for (const link of links.reverse()) {
    const result = await pullFrom(ctx, remote, link.name);
    ctx.log.info(`${result.name}: ${result.downloaded ? 'pulled' : 'already here'}, a link of the chain`);
    pulled.push(result);
  }
  return pulled;
}
