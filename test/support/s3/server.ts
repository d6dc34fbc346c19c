import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { SignatureError, verifySignature } from './sigv4.js';

export interface S3Request {
  method: string;
  bucket: string;
  key: string;
  query: URLSearchParams;
}

/**
 * What a fault does to the request it matches: reset the connection, answer 500, or accept it and
 * then lose the stored object's last byte (a store that loses data).
 */
export type Fault = 'reset' | 'internal-error' | 'lose-tail';

interface StoredObject {
  size: number;
  etag: string;
  lastModified: Date;
}

interface MultipartUpload {
  bucket: string;
  key: string;
  parts: Map<number, { etag: string; md5: Buffer; size: number }>;
}

const MIN_PART_SIZE = 5 * 1024 * 1024;

class S3Error extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * An S3-compatible server for tests, on loopback, keeping objects as files: path-style requests,
 * SigV4 checked against its own credentials, ListObjectsV2, ranged GET, multipart uploads with S3's
 * ETag rules and minimum part size. Faults and a request hook let tests break uploads on purpose.
 * A test instrument only: tests reach it through Ferry and the AWS SDK.
 */
export class S3TestServer {
  readonly requests: S3Request[] = [];
  /** Called as each request arrives, before it is answered. */
  onRequest: ((request: S3Request) => void) | undefined;
  private readonly faults: Array<{ matches: (r: S3Request) => boolean; fault: Fault }> = [];
  private readonly objects = new Map<string, StoredObject>();
  private readonly uploads = new Map<string, MultipartUpload>();
  /** Objects whose next write loses its last byte once stored. */
  private readonly lossy = new Set<string>();
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  endpoint = '';

  constructor(
    private readonly root: string,
    readonly credentials: Record<string, string> = { ferrytest: 'ferrytest-secret', ferryreader: 'ferryreader-secret' },
    private readonly buckets = new Set<string>(['ferry']),
    /** Access keys that may only read and list, like a developer laptop's. */
    private readonly readOnlyKeys = new Set<string>(['ferryreader']),
  ) {}

  async start(): Promise<string> {
    await mkdir(join(this.root, '.uploads'), { recursive: true });
    for (const bucket of this.buckets) await mkdir(join(this.root, bucket), { recursive: true });
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        const e = error instanceof S3Error ? error : new S3Error(500, 'InternalError', String(error));
        this.sendError(res, e, req.method === 'HEAD');
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((done) => this.server?.listen(0, '127.0.0.1', done));
    const address = this.server.address();
    this.endpoint = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    return this.endpoint;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((done) => (this.server === undefined ? done() : this.server.close(() => done())));
  }

  /** The next request that matches gets the fault, once. */
  failOnce(matches: (r: S3Request) => boolean, fault: Fault): void {
    this.faults.push({ matches, fault });
  }

  /** Where an object's bytes are, so a test can damage them. */
  pathOf(bucket: string, key: string): string {
    return join(this.root, bucket, encodeURIComponent(key));
  }

  keys(bucket: string): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(`${bucket}/`)).map((k) => k.slice(bucket.length + 1)).sort();
  }

  pendingUploads(): number {
    return this.uploads.size;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const [bucket = '', ...rest] = url.pathname.slice(1).split('/');
    const request: S3Request = { method: req.method ?? 'GET', bucket: decodeURIComponent(bucket), key: rest.map(decodeURIComponent).join('/'), query: url.searchParams };
    this.requests.push(request);
    this.onRequest?.(request);
    const faultAt = this.faults.findIndex((f) => f.matches(request));
    if (faultAt >= 0) {
      const { fault } = this.faults.splice(faultAt, 1)[0] as { fault: Fault };
      if (fault === 'reset') {
        req.socket.destroy();
        return;
      }
      if (fault === 'internal-error') throw new S3Error(500, 'InternalError', 'We encountered an internal error. Please try again.');
      this.lossy.add(`${request.bucket}/${request.key}`);
    }
    let signed;
    try {
      signed = verifySignature(req, this.credentials);
    } catch (error) {
      if (error instanceof SignatureError) throw new S3Error(403, error.code, error.message);
      throw error;
    }
    if (this.readOnlyKeys.has(signed.accessKeyId) && !['GET', 'HEAD'].includes(request.method)) throw new S3Error(403, 'AccessDenied', 'Access Denied');
    if (req.headers['content-encoding']?.includes('aws-chunked') === true) throw new S3Error(501, 'NotImplemented', 'aws-chunked uploads are not supported here');
    if (!this.buckets.has(request.bucket)) throw new S3Error(404, 'NoSuchBucket', 'The specified bucket does not exist');
    const q = request.query;
    if (request.key === '') {
      if (request.method === 'GET' && q.get('list-type') === '2') return this.listObjects(res, request);
      if (request.method === 'HEAD') return this.send(res, 200);
      if (request.method === 'GET' && q.has('uploads')) return this.listUploads(res, request);
      throw new S3Error(501, 'NotImplemented', `bucket operation ${request.method} ${url.search}`);
    }
    const id = `${request.bucket}/${request.key}`;
    switch (request.method) {
      case 'PUT':
        if (q.has('uploadId')) return this.uploadPart(req, res, q.get('uploadId') as string, Number(q.get('partNumber')), signed.payloadHash);
        return this.putObject(req, res, id, signed.payloadHash);
      case 'POST':
        if (q.has('uploads')) {
          const uploadId = randomUUID();
          this.uploads.set(uploadId, { bucket: request.bucket, key: request.key, parts: new Map() });
          await mkdir(join(this.root, '.uploads', uploadId));
          return this.sendXml(res, `<InitiateMultipartUploadResult><Bucket>${xmlEscape(request.bucket)}</Bucket><Key>${xmlEscape(request.key)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`);
        }
        if (q.has('uploadId')) return this.completeUpload(req, res, id, q.get('uploadId') as string);
        break;
      case 'DELETE':
        if (q.has('uploadId')) {
          const uploadId = q.get('uploadId') as string;
          if (!this.uploads.delete(uploadId)) throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.');
          await rm(join(this.root, '.uploads', uploadId), { recursive: true, force: true });
          return this.send(res, 204);
        }
        this.objects.delete(id);
        await rm(this.pathOf(request.bucket, request.key), { force: true });
        return this.send(res, 204);
      case 'GET':
      case 'HEAD':
        return this.getObject(req, res, request, id);
    }
    throw new S3Error(501, 'NotImplemented', `${request.method} ${url.search}`);
  }

  /** Streams a request body to a file, hashing it; checks x-amz-content-sha256 and Content-MD5. */
  private async receive(req: IncomingMessage, path: string, payloadHash: string): Promise<{ size: number; md5: Buffer }> {
    const md5 = createHash('md5');
    const sha = createHash('sha256');
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      md5.update(chunk);
      sha.update(chunk);
      size += chunk.length;
    });
    await pipeline(req, createWriteStream(path));
    const md5Digest = md5.digest();
    if (/^[0-9a-f]{64}$/.test(payloadHash) && sha.digest('hex') !== payloadHash) {
      await rm(path, { force: true });
      throw new S3Error(400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
    }
    const contentMd5 = req.headers['content-md5'];
    if (contentMd5 !== undefined && contentMd5 !== md5Digest.toString('base64')) {
      await rm(path, { force: true });
      throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
    }
    return { size, md5: md5Digest };
  }

  private async putObject(req: IncomingMessage, res: ServerResponse, id: string, payloadHash: string): Promise<void> {
    const [bucket, ...key] = id.split('/');
    const temp = join(this.root, '.uploads', randomUUID());
    const { size, md5 } = await this.receive(req, temp, payloadHash);
    await rename(temp, this.pathOf(bucket as string, key.join('/')));
    await this.loseTailOf(id);
    const etag = `"${md5.toString('hex')}"`;
    this.objects.set(id, { size, etag, lastModified: new Date() });
    this.send(res, 200, { ETag: etag });
  }

  private async uploadPart(req: IncomingMessage, res: ServerResponse, uploadId: string, partNumber: number, payloadHash: string): Promise<void> {
    const upload = this.uploads.get(uploadId);
    if (upload === undefined) throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.');
    const { size, md5 } = await this.receive(req, join(this.root, '.uploads', uploadId, String(partNumber)), payloadHash);
    const etag = `"${md5.toString('hex')}"`;
    upload.parts.set(partNumber, { etag, md5, size });
    this.send(res, 200, { ETag: etag });
  }

  private async completeUpload(req: IncomingMessage, res: ServerResponse, id: string, uploadId: string): Promise<void> {
    const upload = this.uploads.get(uploadId);
    if (upload === undefined) throw new S3Error(404, 'NoSuchUpload', 'The specified upload does not exist.');
    const body = await new Promise<string>((done, fail) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => done(Buffer.concat(chunks).toString('utf8'))).on('error', fail);
    });
    const listed = [...body.matchAll(/<Part>\s*(?:<ETag>([^<]+)<\/ETag>\s*<PartNumber>(\d+)<\/PartNumber>|<PartNumber>(\d+)<\/PartNumber>\s*<ETag>([^<]+)<\/ETag>)/g)]
      .map((m) => ({ number: Number(m[2] ?? m[3]), etag: (m[1] ?? m[4] ?? '').replace(/&quot;/g, '"') }));
    if (listed.length === 0) throw new S3Error(400, 'MalformedXML', 'The XML you provided was not well-formed.');
    const parts = listed.map(({ number, etag }, index) => {
      const part = upload.parts.get(number);
      if (part === undefined || part.etag !== etag) throw new S3Error(400, 'InvalidPart', `part ${number} was not uploaded or its ETag differs`);
      if (index < listed.length - 1 && part.size < MIN_PART_SIZE) throw new S3Error(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.');
      return { number, ...part };
    });
    const temp = join(this.root, '.uploads', `${uploadId}.object`);
    const out = createWriteStream(temp);
    for (const part of parts) {
      for await (const chunk of createReadStream(join(this.root, '.uploads', uploadId, String(part.number)))) {
        if (!out.write(chunk)) await once(out, 'drain');
      }
    }
    await new Promise<void>((done, fail) => out.end((error?: Error | null) => (error ? fail(error) : done())));
    await rename(temp, this.pathOf(upload.bucket, upload.key));
    await this.loseTailOf(id);
    const etag = `"${createHash('md5').update(Buffer.concat(parts.map((p) => p.md5))).digest('hex')}-${parts.length}"`;
    this.objects.set(id, { size: parts.reduce((sum, p) => sum + p.size, 0), etag, lastModified: new Date() });
    this.uploads.delete(uploadId);
    await rm(join(this.root, '.uploads', uploadId), { recursive: true, force: true });
    this.sendXml(res, `<CompleteMultipartUploadResult><Bucket>${xmlEscape(upload.bucket)}</Bucket><Key>${xmlEscape(upload.key)}</Key><ETag>${xmlEscape(etag)}</ETag></CompleteMultipartUploadResult>`);
  }

  private async getObject(req: IncomingMessage, res: ServerResponse, request: S3Request, id: string): Promise<void> {
    const object = this.objects.get(id);
    if (object === undefined) throw new S3Error(404, 'NoSuchKey', 'The specified key does not exist.');
    const path = this.pathOf(request.bucket, request.key);
    // The size on disk, not the recorded one: a test that damages the file changes what is served.
    const size = (await stat(path)).size;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (range !== null) {
      start = range[1] === '' ? Math.max(0, size - Number(range[2])) : Number(range[1]);
      end = range[1] !== '' && range[2] !== '' ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable');
      status = 206;
    }
    const headers: Record<string, string> = {
      ETag: object.etag,
      'Last-Modified': object.lastModified.toUTCString(),
      'Content-Length': String(end - start + 1),
      'Content-Type': 'application/octet-stream',
      ...(status === 206 ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    };
    res.writeHead(status, headers);
    if (request.method === 'HEAD' || size === 0) {
      res.end();
      return;
    }
    await pipeline(createReadStream(path, { start, end }), res);
  }

  private listObjects(res: ServerResponse, request: S3Request): void {
    const prefix = request.query.get('prefix') ?? '';
    const maxKeys = Math.min(Number(request.query.get('max-keys') ?? 1000), 1000);
    const after = request.query.get('continuation-token') ?? request.query.get('start-after') ?? '';
    const keys = this.keys(request.bucket).filter((k) => k.startsWith(prefix) && k > after);
    const page = keys.slice(0, maxKeys);
    const truncated = keys.length > page.length;
    const contents = page.map((key) => {
      const o = this.objects.get(`${request.bucket}/${key}`) as StoredObject;
      return `<Contents><Key>${xmlEscape(key)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${xmlEscape(o.etag)}</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
    }).join('');
    this.sendXml(res, `<ListBucketResult><Name>${xmlEscape(request.bucket)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${truncated ? `<NextContinuationToken>${xmlEscape(page[page.length - 1] as string)}</NextContinuationToken>` : ''}${contents}</ListBucketResult>`);
  }

  private async loseTailOf(id: string): Promise<void> {
    if (!this.lossy.delete(id)) return;
    const [bucket, ...key] = id.split('/');
    const path = this.pathOf(bucket as string, key.join('/'));
    await truncate(path, (await stat(path)).size - 1);
  }

  private listUploads(res: ServerResponse, request: S3Request): void {
    const prefix = request.query.get('prefix') ?? '';
    const uploads = [...this.uploads].filter(([, u]) => u.bucket === request.bucket && u.key.startsWith(prefix))
      .map(([id, u]) => `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${id}</UploadId></Upload>`).join('');
    this.sendXml(res, `<ListMultipartUploadsResult><Bucket>${xmlEscape(request.bucket)}</Bucket><Prefix>${xmlEscape(prefix)}</Prefix><IsTruncated>false</IsTruncated>${uploads}</ListMultipartUploadsResult>`);
  }

  private send(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Length': '0', ...headers });
    res.end();
  }

  private sendXml(res: ServerResponse, body: string): void {
    const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
    res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': String(Buffer.byteLength(text)) });
    res.end(text);
  }

  private sendError(res: ServerResponse, error: S3Error, head: boolean): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = head ? '' : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${error.code}</Code><Message>${xmlEscape(error.message)}</Message><RequestId>ferry-test</RequestId></Error>`;
    res.writeHead(error.status, { 'Content-Type': 'application/xml', 'Content-Length': String(Buffer.byteLength(text)) });
    res.end(text);
  }
}

