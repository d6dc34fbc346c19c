import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checksumLine, CHECKSUM_SUFFIX, DigestStream, MANIFEST_SUFFIX, PARTIAL_SUFFIX, VERIFY_SUFFIX, syncDirectory, writeFileAtomic } from '../archive/index.js';
import { FerryError } from '../errors/index.js';
import type { RemoteBackup, RemoteLocation, RemoteStore } from '../remote/index.js';
import { formatBytes } from '../util/format.js';
import type { OperationContext } from './context.js';
import { manifestOf, recordedSha256 } from './catalog.js';
import { baseOf } from './chain.js';
import { acquireLock } from './lock.js';
import { withRemote } from './remote.js';

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

/** "latest" is the newest complete remote backup; a name must be complete too. */
export async function findRemoteBackup(ctx: OperationContext, remote: RemoteStore, reference: string): Promise<RemoteBackup> {
  const { backups } = await remote.catalog(ctx.signal);
  if (reference === 'latest') {
    const newest = backups.find((b) => b.hasChecksum);
    if (newest === undefined) {
      throw new FerryError('ARCHIVE_NOT_FOUND', `no complete backup at ${remote.url}`, { hint: 'Run ferry push (or ferry backup with storage.remote) on the server first.' });
    }
    for (const skipped of backups.slice(0, backups.indexOf(newest))) ctx.log.warn(`${skipped.name} at ${remote.url} is incomplete (no .sha256 sidecar): skipped`);
    return newest;
  }
  const found = backups.find((b) => b.name === reference);
  if (found === undefined) throw new FerryError('ARCHIVE_NOT_FOUND', `${remote.urlOf(reference)} does not exist`, { hint: 'ferry list --remote shows the remote backups.' });
  if (!found.hasChecksum) {
    throw new FerryError('REMOTE_INCOMPLETE', `${found.path} has no .sha256 sidecar: its upload did not finish`, { hint: 'Run ferry push on the server, or pull another backup.' });
  }
  return found;
}

/** The sha256 of a remote object, read to its end without keeping it. */
export async function remoteSha256(remote: RemoteStore, name: string, signal: AbortSignal): Promise<{ sha256: string; size: number }> {
  const digest = new DigestStream();
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  const piping = pipeline(digest, sink);
  piping.catch(() => undefined);
  await remote.download(name, digest, signal);
  await piping;
  return digest.digest();
}

async function expectedSha256(remote: RemoteStore, name: string, signal: AbortSignal): Promise<string> {
  const sha256 = await remote.recordedSha256(name, signal);
  if (sha256 === undefined) throw new FerryError('REMOTE_INCOMPLETE', `${remote.urlOf(name + CHECKSUM_SUFFIX)} is missing`, { hint: 'Run ferry push on the server, or pull another backup.' });
  return sha256;
}

/**
 * Downloads a remote backup into the backup directory: streamed to a .partial file while hashed,
 * compared with the remote .sha256 sidecar, fsynced, then renamed. A copy that does not match is
 * removed; an existing different file of the same name is never overwritten.
 */
export async function pullFrom(ctx: OperationContext, remote: RemoteStore, reference: string): Promise<PullResult> {
  const backup = await findRemoteBackup(ctx, remote, reference);
  const { name } = backup;
  const sha256 = await expectedSha256(remote, name, ctx.signal);
  const directory = ctx.config.backup.directory;
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const finalPath = join(directory, name);
  if (await stat(finalPath).then(() => true, () => false)) {
    if (await recordedSha256(finalPath) === sha256) {
      ctx.log.info(`${name} is already in ${directory}`);
      return { name, path: finalPath, size: backup.size, sha256, downloaded: false, seconds: 0 };
    }
    throw new FerryError('ARCHIVE_EXISTS', `${finalPath} exists and is not the archive at ${backup.path}`, { hint: 'Move that file away, then pull again; Ferry never overwrites an archive.' });
  }
  // Held like a backup's: the next backup removes a .partial and sidecars nobody holds the lock for.
  const lock = await acquireLock(directory, 'pull');
  const started = Date.now();
  const partial = finalPath + PARTIAL_SUFFIX;
  const digest = new DigestStream();
  ctx.progress.start(`downloading ${backup.path}`, backup.size);
  digest.on('data', () => ctx.progress.update(digest.size));
  try {
    const writing = pipeline(digest, createWriteStream(partial, { mode: 0o600 }));
    writing.catch(() => undefined);
    await remote.download(name, digest, ctx.signal);
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
      const text = await remote.read(name + suffix, undefined, ctx.signal);
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
    const chain = await pullChain(ctx, remote, pulled.path);
    return chain.length === 0 ? pulled : { ...pulled, chain };
  }, location);
}

/**
 * The bases a pulled delta needs, down to its full, each pulled unless it is here already with the
 * manifest the delta recorded (pullFrom refuses a different archive of the same name).
 */
async function pullChain(ctx: OperationContext, remote: RemoteStore, archive: string): Promise<PullResult[]> {
  const pulled: PullResult[] = [];
  for (let base = baseOf(await manifestOf(archive, ctx.signal, { sidecarOnly: true }).catch(() => ({ stores: {} }))); base !== undefined;) {
    if (pulled.length > 1000 || pulled.some((p) => p.name === base?.name)) break;
    const link = await pullFrom(ctx, remote, base.name);
    ctx.log.info(`${link.name}: ${link.downloaded ? 'pulled' : 'already here'}, a link of the chain`);
    pulled.push(link);
    base = baseOf(await manifestOf(link.path, ctx.signal, { sidecarOnly: true }).catch(() => ({ stores: {} })));
  }
  // The chain's manifests are checked where it is used: restore and verify refuse a link that differs.
  return pulled;
}
