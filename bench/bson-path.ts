/**
 * The MongoDB restore path on its own, without any server: a .bson file of Le Grimoire-shaped recipe
 * documents is read and split into documents (what restore streams), each document is parsed
 * completely (what verify checks), and documents are gathered into insert batches as restore does
 * (1,000 documents or 8 MB, copied out of the read buffer).
 * Run: npx tsx bench/bson-path.ts [documents]
 */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BSON, ObjectId } from 'bson';
import { parseDocument, readBsonFile } from '../src/stores/mongo/bson-file.js';

const documents = Number(process.argv[2] ?? 500_000);
const work = mkdtempSync(join(tmpdir(), 'ferry-bson-'));
const file = join(work, 'recipes.bson');
try {
  const out = createWriteStream(file);
  for (let i = 0; i < documents; i++) {
    const doc = {
      _id: new ObjectId(),
      title: `Recette ${i}`,
      slug: `recette-${i}`,
      servings: i % 8,
      createdAt: new Date(1_700_000_000_000 + i * 60_000),
      ingredients: [{ name: 'farine', quantity: 200, unit: 'g' }, { name: 'beurre', quantity: 100, unit: 'g' }, { name: 'sel', quantity: 2, unit: 'g' }],
      instructions: `Mélanger la farine et le beurre ${i}. `.repeat(20),
      tags: ['dessert', 'facile'],
    };
    if (!out.write(BSON.serialize(doc))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  const bytes = statSync(file).size;
  const report = (label: string, seconds: number) => {
    process.stdout.write(`${label}: ${seconds.toFixed(2)} s, ${Math.round(documents / seconds)} documents/s, ${(bytes / 1e6 / seconds).toFixed(0)} MB/s\n`);
  };
  process.stdout.write(`${documents} documents, ${(bytes / 1e6).toFixed(0)} MB of BSON\n`);

  let started = process.hrtime.bigint();
  let count = 0;
  for await (const doc of readBsonFile(file)) count += doc.bytes.length > 0 ? 1 : 0;
  report('read and split (restore)', Number(process.hrtime.bigint() - started) / 1e9);

  started = process.hrtime.bigint();
  for await (const doc of readBsonFile(file)) parseDocument(doc, file);
  report('read, split and parse every document (verify)', Number(process.hrtime.bigint() - started) / 1e9);

  started = process.hrtime.bigint();
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let batches = 0;
  for await (const doc of readBsonFile(file)) {
    const copy = Buffer.from(doc.bytes);
    batch.push(copy);
    batchBytes += copy.length;
    if (batch.length >= 1000 || batchBytes >= 8 * 1024 * 1024) {
      batches++;
      batch = [];
      batchBytes = 0;
    }
  }
  report(`read, split and batch for insert (${batches} batches)`, Number(process.hrtime.bigint() - started) / 1e9);
  if (count !== documents) throw new Error(`read ${count} documents, wrote ${documents}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
