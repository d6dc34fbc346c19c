import type { S3Client } from '@aws-sdk/client-s3';

type S3Sdk = typeof import('@aws-sdk/client-s3');
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CHECKSUM_SUFFIX, sidecarNames, timeOfArchiveName } from '../archive/index.js';
import type { StorageConfig } from '../config/index.js';
import { FerryError } from '../errors/index.js';
import type { BackupSummary } from '../repository/repository.js';
import { remoteUrl, type RemoteLocation } from './location.js';
import { remoteError } from './s3-errors.js';
import { UploadDigests } from './upload-digests.js';

const MIB = 1024 * 1024;
const MAX_PARTS = 10_000;

export interface UploadOptions {
  signal: AbortSignal;
  /** The sha256 the local .sha256 sidecar records; the bytes sent must match it. */
  expectedSha256: string;
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

/**
 * Backups in an S3-compatible bucket, under a prefix, with the same names and sidecars as in the
 * backup directory. Everything streams: memory is about part size × concurrency during uploads.
 */
export class RemoteStore {
  private constructor(
    private readonly sdk: S3Sdk,
    private readonly client: S3Client,
    readonly location: RemoteLocation,
    private readonly storage: StorageConfig,
  ) {}

  /** The SDK is loaded only by commands that talk to the bucket. */
  static async open(storage: StorageConfig, location: RemoteLocation): Promise<RemoteStore> {
    // The SDK warns on every run under Node 20 about its own future releases; Ferry pins it.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const sdk = await import('@aws-sdk/client-s3');
    const client = new sdk.S3Client({
      region: storage.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(storage.endpoint === undefined ? {} : { endpoint: storage.endpoint }),
      forcePathStyle: storage.force_path_style,
      maxAttempts: 5,
      // Many S3-compatible stores reject the SDK's newer default checksum trailers; Ferry checks
      // ETags and sha256 itself.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // A stalled transfer ends in an error instead of hanging forever.
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 120_000 },
    });
    return new RemoteStore(sdk, client, location, storage);
  }

  get url(): string {
    return remoteUrl(this.location);
  }

  urlOf(name: string): string {
    return remoteUrl(this.location, name);
  }

  private key(name: string): string {
    return this.location.prefix + name;
  }

  close(): void {
    this.client.destroy();
  }

  /** Backups under the prefix, newest first, and the names there that are not Ferry's. */
  async catalog(signal?: AbortSignal): Promise<{ backups: BackupSummary[]; foreign: string[] }> {
    const objects = new Map<string, { size: number }>();
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(new this.sdk.ListObjectsV2Command({
          Bucket: this.location.bucket,
          Prefix: this.location.prefix,
          Delimiter: '/',
          ...(token === undefined ? {} : { ContinuationToken: token }),
        }), signal === undefined ? {} : { abortSignal: signal });
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined) continue;
          objects.set(object.Key.slice(this.location.prefix.length), { size: object.Size ?? 0 });
        }
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw remoteError(error, `listing ${this.url}`);
    }
    const backups: BackupSummary[] = [];
    const own = new Set<string>();
    for (const [name, object] of objects) {
      const time = timeOfArchiveName(name);
      if (time === undefined) continue;
      const [checksum, manifest, verify] = sidecarNames(name) as [string, string, string];
      for (const n of [name, checksum, manifest, verify]) own.add(n);
      backups.push({
        name,
        path: this.urlOf(name),
        time,
        size: object.size,
        hasChecksum: objects.has(checksum),
        hasManifestSidecar: objects.has(manifest),
        hasVerifySidecar: objects.has(verify),
      });
    }
    backups.sort((a, b) => b.time.getTime() - a.time.getTime());
    return { backups, foreign: [...objects.keys()].filter((n) => !own.has(n)).sort() };
  }

  /** An object's bytes, or a range of them; undefined when there is no such object. */
  async read(name: string, range?: { start: number; end: number }, signal?: AbortSignal): Promise<Buffer | undefined> {
    try {
      const response = await this.client.send(new this.sdk.GetObjectCommand({
        Bucket: this.location.bucket,
        Key: this.key(name),
        ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
      }), signal === undefined ? {} : { abortSignal: signal });
      return Buffer.from(await (response.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw remoteError(error, `reading ${this.urlOf(name)}`);
    }
  }

  /** An object's bytes (or a range of them) as a stream, for reading without keeping them. */
  async stream(name: string, signal: AbortSignal, range?: { start: number; end: number }): Promise<Readable> {
    try {
      const response = await this.client.send(new this.sdk.GetObjectCommand({
        Bucket: this.location.bucket,
        Key: this.key(name),
        ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` }),
      }), { abortSignal: signal });
      return response.Body as Readable;
    } catch (error) {
      if (signal.aborted) throw error;
      if ((error as { name?: string }).name === 'NoSuchKey') {
        throw new FerryError('ARCHIVE_NOT_FOUND', `${this.urlOf(name)} does not exist`, { hint: 'ferry list --remote shows the remote backups.' });
      }
      throw remoteError(error, `downloading ${this.urlOf(name)}`);
    }
  }

  /** Streams an object into `sink`. */
  async download(name: string, sink: Writable, signal: AbortSignal): Promise<void> {
    const body = await this.stream(name, signal);
    try {
      await pipeline(body, sink, { signal });
    } catch (error) {
      if (signal.aborted) throw error;
      throw remoteError(error, `downloading ${this.urlOf(name)}`);
    }
  }

  async putText(name: string, text: string, signal: AbortSignal): Promise<void> {
    try {
      await this.client.send(new this.sdk.PutObjectCommand({
        Bucket: this.location.bucket,
        Key: this.key(name),
        Body: text,
        ContentType: name.endsWith(CHECKSUM_SUFFIX) ? 'text/plain' : 'application/json',
      }), { abortSignal: signal });
    } catch (error) {
      throw remoteError(error, `uploading ${this.urlOf(name)}`);
    }
  }

  async remove(name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(name) }), signal === undefined ? {} : { abortSignal: signal });
    } catch (error) {
      throw remoteError(error, `removing ${this.urlOf(name)}`);
    }
  }

  /** Size and ETag of an object, or undefined when there is none. */
  async head(name: string, signal?: AbortSignal): Promise<{ size: number; etag: string } | undefined> {
    try {
      const response = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.location.bucket, Key: this.key(name) }), signal === undefined ? {} : { abortSignal: signal });
      return { size: response.ContentLength ?? 0, etag: (response.ETag ?? '').replace(/"/g, '') };
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 && (error as { name?: string }).name !== 'NoSuchBucket') return undefined;
      throw remoteError(error, `checking ${this.urlOf(name)}`);
    }
  }

  /**
   * Parts of an earlier upload of the same archive that was killed before it could abort them: the
   * store keeps (and bills) them until someone does.
   */
  private async abortEarlierUploads(name: string, signal: AbortSignal): Promise<void> {
    const key = this.key(name);
    try {
      const listed = await this.client.send(new this.sdk.ListMultipartUploadsCommand({ Bucket: this.location.bucket, Prefix: key }), { abortSignal: signal });
      for (const upload of listed.Uploads ?? []) {
        if (upload.Key !== key || upload.UploadId === undefined) continue;
        await this.client.send(new this.sdk.AbortMultipartUploadCommand({ Bucket: this.location.bucket, Key: key, UploadId: upload.UploadId }), { abortSignal: signal });
      }
    } catch (error) {
      throw remoteError(error, `cleaning up earlier uploads of ${this.urlOf(name)}`);
    }
  }

  /**
   * Uploads a file (multipart when larger than one part; each part retried by the SDK), then checks
   * that the bytes sent are the ones the sidecar names and that the stored object has the size and
   * ETag those bytes give. A copy that fails either check is removed again.
   */
  async upload(path: string, name: string, options: UploadOptions): Promise<{ size: number; etag: string }> {
    const { Upload } = await import('@aws-sdk/lib-storage');
    const size = (await stat(path)).size;
    await this.abortEarlierUploads(name, options.signal);
    const partSize = Math.max(this.storage.part_size_mb * MIB, Math.ceil(size / MAX_PARTS));
    const digests = new UploadDigests(partSize);
    const source = createReadStream(path, { highWaterMark: MIB });
    source.pipe(digests);
    source.on('error', (error) => digests.destroy(error));
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.location.bucket,
        Key: this.key(name),
        Body: digests,
        ContentType: 'application/octet-stream',
        Metadata: { 'ferry-sha256': options.expectedSha256 },
      },
      partSize,
      queueSize: this.storage.upload_concurrency,
      leavePartsOnError: false,
    });
    upload.on('httpUploadProgress', (p) => options.onProgress?.(p.loaded ?? 0, size));
    const onAbort = () => void upload.abort().catch(() => undefined);
    options.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } catch (error) {
      source.destroy();
      if (options.signal.aborted) throw error;
      throw remoteError(error, `uploading ${this.urlOf(name)}`);
    } finally {
      options.signal.removeEventListener('abort', onAbort);
    }
    const sent = digests.sha256Hex();
    if (sent !== options.expectedSha256) {
      await this.remove(name).catch(() => undefined);
      throw new FerryError('ARCHIVE_CORRUPT', `${path} no longer matches its .sha256 sidecar (the file changed after the backup)`, {
        hint: 'The remote copy was removed again. Run ferry verify on the local archive; take a new backup if it fails.',
      });
    }
    const stored = await this.head(name, options.signal);
    const expected = digests.expectedEtags();
    if (stored === undefined || stored.size !== size || !expected.includes(stored.etag)) {
      await this.remove(name).catch(() => undefined);
      throw new FerryError('REMOTE_CHECKSUM_MISMATCH', `${this.urlOf(name)} does not hold what was sent: ${stored === undefined ? 'the object is missing' : `size ${stored.size} (sent ${size}), ETag ${stored.etag} (expected ${expected.join(' or ')})`}`, {
        hint: 'The remote copy was removed; run ferry push again. Buckets with SSE-KMS or SSE-C encryption give ETags that are not MD5s: use SSE-S3 for the backup bucket.',
      });
    }
    return stored;
  }
}
