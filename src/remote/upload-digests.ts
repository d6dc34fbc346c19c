import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Hashes a stream on its way to S3: sha256 of the whole (to compare with the .sha256 sidecar) and
 * MD5 per part of the multipart upload, from which S3's ETag can be predicted and checked.
 */
export class UploadDigests extends Transform {
  private readonly sha256 = createHash('sha256');
  private readonly wholeMd5 = createHash('md5');
  private partMd5: Hash = createHash('md5');
  private inPart = 0;
  private readonly partDigests: Buffer[] = [];
  bytes = 0;

  constructor(private readonly partSize: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sha256.update(chunk);
    this.wholeMd5.update(chunk);
    this.bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.partSize - this.inPart, chunk.length - offset);
      this.partMd5.update(chunk.subarray(offset, offset + take));
      this.inPart += take;
      offset += take;
      if (this.inPart === this.partSize) {
        this.partDigests.push(this.partMd5.digest());
        this.partMd5 = createHash('md5');
        this.inPart = 0;
      }
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.inPart > 0) this.partDigests.push(this.partMd5.digest());
    callback();
  }

  sha256Hex(): string {
    return this.sha256.digest('hex');
  }

  /**
   * The ETags S3 gives this content: MD5 of the bytes for a single PUT, MD5 of the parts' MD5s
   * with "-<parts>" for a multipart upload. Objects encrypted with SSE-KMS or SSE-C have neither.
   */
  expectedEtags(): string[] {
    const single = this.wholeMd5.digest('hex');
    const multipart = `${createHash('md5').update(Buffer.concat(this.partDigests)).digest('hex')}-${this.partDigests.length}`;
    return [single, multipart];
  }
}
