import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { runFolder } from './run-folders.js';
import {
  ArchiveWriter, checksumLine, CHECKSUM_SUFFIX, drain, INFO_ENTRY, MANIFEST_ENTRY, MANIFEST_SUFFIX, readArchiveChecked, sidecarNames, writeFileAtomic, type ArchiveEntryHeader, type Manifest,
  ARCHIVE_EXTENSION, DEFAULT_LEVEL,
} from '../archive/index.js';
import { FerryError, throwIfAborted } from '../errors/index.js';
import { archiveCompression } from '../config/index.js';
import { maskKeyFromEnvironment, maskRulesFrom, type MaskRules } from '../mask/rules.js';
import { Masker } from '../mask/transformers.js';
import type { StoreContext } from '../stores/index.js';
import { readBsonStream } from '../stores/mongo/bson-file.js';
import { DocumentMasker } from '../stores/mongo/document-masker.js';
import { unescapeCollectionName } from '../stores/mongo/names.js';
import { writeMaskedSql } from '../stores/postgres/restore.js';
import { choosePgTools, majorOf } from '../stores/postgres/tools.js';
import { renderBackupInfo } from './backup-info.js';
import { localBackupAt, locateArchive, manifestOf, recordedSha256 } from './catalog.js';
import { isDelta } from './chain.js';
import type { OperationContext } from './context.js';
import { decryption } from './keys.js';
import { recordVerification, verifyBackup } from './verify.js';
import { plural } from '../util/format.js';

export interface MaskResult {
  input: string;
  output: string;
  size: number;
  sha256: string;
  objects: NonNullable<Manifest['masked']>['objects'];
  /** Entries left out because they would carry unmasked data (JSON exports of masked collections). */
  dropped: string[];
  verified: boolean;
}

const BSON_ENTRY = /^mongodb\/[^/]+\/([^/]+)\.bson$/;
// JSON exports sit at the archive root (recipes_export.json), as in the old scripts' archives.
const EXPORT_ENTRY = /^(?:mongodb\/[^/]+\/)?([^/]+)_export\.json$/;

/**
 * `ferry mask <archive> -o <file>`: a new archive for people who must never receive the raw one.
 * PostgreSQL becomes plain SQL (with --clean) whose masked rows were rewritten on the way (the
 * custom-format dump, which only PostgreSQL can rewrite, is left out); masked collections' BSON is
 * rewritten, their JSON exports left out; everything else is copied as it is. Its manifest records
 * the rules (never the key) and what they changed; the new archive is verified before it is named.
 */
export async function maskArchive(ctx: OperationContext, reference: string, outputPath: string): Promise<MaskResult> {
  const rules = maskRulesFrom(ctx.config.mask);
  if (rules === undefined) throw new FerryError('USAGE', 'ferry mask: no mask rules are configured', { hint: 'Add a mask: section to the config (docs/masking.md).' });
  const masker = new Masker(maskKeyFromEnvironment());
  const input = await locateArchive(reference, ctx.config.backup.directory);
  const output = resolve(outputPath);
  if (await stat(output).then(() => true, () => false)) {
    throw new FerryError('ARCHIVE_EXISTS', `${output} already exists`, { hint: 'Choose another -o path; Ferry never overwrites an archive.' });
  }
  const source = await manifestOf(input, ctx.signal, decryption(ctx, input));
  if (isDelta(source)) {
    throw new FerryError('USAGE', `${basename(input)} is a delta of incremental uploads: a masked copy of it alone would lack its chain`, {
      hint: `Run ferry consolidate ${basename(input)} and mask the full it writes.`,
    });
  }
  const tempDir = await runFolder(ctx.config.backup.temp_directory ?? tmpdir(), 'mask');
  const storeCtx: StoreContext = { signal: ctx.signal, log: ctx.log, progress: ctx.progress, redactor: ctx.redactor, tempDir };
  // The output's name says how it is compressed: .tar.zst is zstd, anything else gzip.
  const codec = output.endsWith(ARCHIVE_EXTENSION.zstd) ? 'zstd' : 'gzip';
  const compression = { codec, level: codec === ctx.config.backup.compression ? archiveCompression(ctx.config.backup).level : DEFAULT_LEVEL[codec] } as const;
  const writer = await ArchiveWriter.create(output, { codec, compressionLevel: compression.level });
  let committed = false;
  try {
    const run = new MaskRun(ctx, storeCtx, rules, masker, writer, source);
    ctx.progress.start(`masking ${input}`);
    const manifest = await readArchiveChecked(input, source, (header, data) => run.entry(header, data), {
      signal: ctx.signal, onCompressedBytes: (n) => ctx.progress.update(n), ...decryption(ctx, input),
    });
    run.assertRulesMatched();

    const sha256 = await sha256Of(input);
    const { entries: _sourceEntries, masked: _previous, ...rest } = manifest;
    const head: Omit<Manifest, 'entries'> = {
      ...rest,
      compression,
      masked: { at: new Date().toISOString(), from: { name: basename(input), sha256 }, ruleSetSha256: rules.digest, rules: ctx.config.mask ?? {}, objects: run.objects },
    };
    await writer.addBuffer(INFO_ENTRY, Buffer.from(`${renderBackupInfo(head, basename(output))}\nMasked with rule set ${rules.digest} from ${basename(input)}.\n`), { mode: 0o600 });
    const finalManifest: Manifest = { ...head, entries: await writer.manifestEntries() };
    const text = JSON.stringify(finalManifest, null, 2) + '\n';
    await writer.addBuffer(MANIFEST_ENTRY, Buffer.from(text), { mode: 0o600 });
    const finished = await writer.finish();
    await writer.commit();
    committed = true;
    await writeFileAtomic(output + CHECKSUM_SUFFIX, checksumLine(finished.sha256, basename(output)));
    await writeFileAtomic(output + MANIFEST_SUFFIX, text);
    ctx.progress.done(`masked ${plural(run.objects.reduce((n, o) => n + o.masked, 0), 'value')}`);
    const written = localBackupAt(output);
    const report = await verifyBackup(ctx, written.repository, written.name);
    await recordVerification(ctx, written.repository, written.name, report);
    if (!report.ok) {
      throw new FerryError('ARCHIVE_CORRUPT', `the masked archive does not verify: ${report.findings[0]?.problem ?? '?'}`, { hint: 'It was removed; check the disk and run ferry mask again.' });
    }
    return { input, output, size: finished.size, sha256: finished.sha256, objects: run.objects, dropped: run.dropped, verified: report.ok };
  } catch (error) {
    if (committed) for (const path of [output, ...sidecarNames(output)]) await rm(path, { force: true });
    else await writer.discard();
    throw error;
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
}

/** The source's sha256: from its .sha256 sidecar, or read when it has none. */
async function sha256Of(path: string): Promise<string> {
  const { repository, name } = localBackupAt(path);
  const recorded = await recordedSha256(repository, name);
  if (recorded !== undefined) return recorded;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One pass over the source archive, entry by entry, into the writer. */
class MaskRun {
  readonly objects: NonNullable<Manifest['masked']>['objects'] = [];
  readonly dropped: string[] = [];
  private readonly maskers: DocumentMasker[] = [];
  private customDumpSeen = false;

  constructor(
    private readonly ctx: OperationContext,
    private readonly storeCtx: StoreContext,
    private readonly rules: MaskRules,
    private readonly masker: Masker,
    private readonly writer: ArchiveWriter,
    private readonly source: Manifest,
  ) {}

  async entry(header: ArchiveEntryHeader, data: Readable): Promise<void> {
    throwIfAborted(this.ctx.signal);
    const attributes = { mode: header.mode, mtime: header.mtime };
    if (header.path === INFO_ENTRY) return drain(data);
    if (header.path === 'postgresql/database.backup') {
      this.customDumpSeen = true;
      const dump = join(this.storeCtx.tempDir, 'database.backup');
      await pipeline(data, createWriteStream(dump, { mode: 0o600 }));
      const sql = join(this.storeCtx.tempDir, 'database.sql');
      const toolVersion = this.source.stores.postgres?.toolVersion ?? '0';
      const tools = await choosePgTools(majorOf(toolVersion), `the archive was written by pg_dump ${toolVersion} so reading it`, { binDir: this.ctx.config.postgres?.bin_dir, exec: this.ctx.config.postgres?.exec }, this.ctx.signal);
      const stats = await writeMaskedSql(tools, dump, sql, this.rules.postgres, this.masker, this.storeCtx);
      this.objects.push(...stats.map((s) => ({ store: 'postgres', ...s })));
      await this.writer.addFile('postgresql/database.sql', sql, (await stat(sql)).size, { mode: 0o600, mtime: header.mtime });
      await rm(dump);
      return;
    }
    if (header.path === 'postgresql/database.sql') {
      // Replaced by the masked SQL made from the custom dump; without one the archive cannot be masked.
      if (!this.customDumpSeen) {
        throw new FerryError('ARCHIVE_ENTRY_MISSING', 'the archive has PostgreSQL plain SQL but no custom-format dump to mask it from', { hint: 'Mask an archive written by ferry backup.' });
      }
      return drain(data);
    }
    const bson = BSON_ENTRY.exec(header.path);
    const fieldRules = bson === null ? undefined : this.rules.mongo.get(unescapeCollectionName(bson[1] as string));
    if (bson !== null && fieldRules !== undefined) {
      const masker = new DocumentMasker(unescapeCollectionName(bson[1] as string), fieldRules, this.masker);
      this.maskers.push(masker);
      const out = join(this.storeCtx.tempDir, 'collection.bson');
      const label = header.path;
      await pipeline(Readable.from((async function* () {
        for await (const doc of readBsonStream(data, label)) yield masker.apply(Buffer.from(doc.bytes));
      })()), createWriteStream(out, { mode: 0o600 }));
      this.objects.push({ store: 'mongo', ...masker.stats });
      await this.writer.addFile(header.path, out, (await stat(out)).size, attributes);
      return;
    }
    const exported = EXPORT_ENTRY.exec(header.path);
    if (exported !== null && this.rules.mongo.has(unescapeCollectionName(exported[1] as string))) {
      this.dropped.push(header.path);
      return drain(data);
    }
    if (header.type === 'directory') {
      await drain(data);
      await this.writer.addDirectory(header.path, attributes);
    } else if (header.type === 'symlink') {
      await drain(data);
      await this.writer.addSymlink(header.path, header.linkTarget ?? '', attributes);
    } else {
      await this.writer.addStream(header.path, data, header.size, attributes);
    }
  }

  /** Every collection with rules was in the archive, and every field rule matched some document. */
  assertRulesMatched(): void {
    if (this.rules.postgres.size > 0 && !this.customDumpSeen) {
      throw new FerryError('MASK_RULE_UNKNOWN', `mask rules for ${[...this.rules.postgres.keys()].join(', ')}: the archive has no PostgreSQL dump`, { hint: 'Remove mask.postgres, or mask an archive that has PostgreSQL data.' });
    }
    for (const name of this.rules.mongo.keys()) {
      const masker = this.maskers.find((m) => m.stats.object === name);
      if (masker === undefined) throw new FerryError('MASK_RULE_UNKNOWN', `mask rule for collection ${name}: the archive has no such collection`, { hint: 'Fix mask.mongodb in the config. No masked archive was written.' });
      const [rule] = masker.unmatched;
      if (rule !== undefined) throw new FerryError('MASK_RULE_UNKNOWN', `mask rule ${name}.${rule.path.join('.')}: no document of ${name} has that field`, { hint: 'Fix the field path in mask.mongodb. No masked archive was written.' });
    }
  }
}
