/**
 * A deterministic, seeded generator of Le Grimoire-shaped data: recipes with titles, multi-paragraph
 * instructions, ingredient lists, numbers and timestamps, a few very large rows, and an uploads folder
 * of image-sized incompressible files (like JPEGs). Rows are streamed into psql's COPY, never built
 * in memory as a whole.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface Size {
  recipes: number;
  ingredients: number;
  uploads: number;
  uploadBytes: number;
}

export const SIZES: Record<string, Size> = {
  s: { recipes: 1_000, ingredients: 300, uploads: 20, uploadBytes: 200_000 },
  m: { recipes: 100_000, ingredients: 3_000, uploads: 200, uploadBytes: 250_000 },
  l: { recipes: 1_000_000, ingredients: 10_000, uploads: 1_000, uploadBytes: 500_000 },
};

/** Mulberry32: small, fast, and the same sequence on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ('farine beurre sucre œufs lait crème chocolat pommes poires citron vanille sel poivre ail oignon échalote thym laurier '
  + 'persil basilic tomates courgettes aubergines poivrons riz pâtes lentilles pois chiches poulet bœuf agneau saumon cabillaud '
  + 'mélanger fouetter incorporer cuire mijoter rôtir dorer réserver servir chaud froid tiède doucement vivement four casserole poêle').split(' ');

function sentence(rand: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)] as string);
  const text = out.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1) + '.';
}

function copyEscape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

export const SCHEMA = `
CREATE TABLE categories (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE ingredients (id int PRIMARY KEY, name text NOT NULL, unit text NOT NULL, price numeric(8,2));
CREATE TABLE recipes (
  id int PRIMARY KEY, slug text NOT NULL UNIQUE, title text NOT NULL, category_id int NOT NULL REFERENCES categories(id),
  servings int NOT NULL, prep_minutes int NOT NULL, rating real, instructions text NOT NULL, tags text[] NOT NULL,
  image_path text, created_at timestamptz NOT NULL);
CREATE TABLE recipe_ingredients (recipe_id int NOT NULL REFERENCES recipes(id), ingredient_id int NOT NULL REFERENCES ingredients(id),
  quantity numeric(8,2) NOT NULL, PRIMARY KEY (recipe_id, ingredient_id));
`;

async function copyInto(psql: (sql: string, input: AsyncIterable<string>) => Promise<void>, table: string, rows: AsyncIterable<string>): Promise<void> {
  await psql(`COPY ${table} FROM STDIN`, rows);
}

/** Loads the data set into `database` with psql (COPY from stdin) and writes the uploads folder. */
export async function generate(size: Size, psqlArgs: string[], env: NodeJS.ProcessEnv, uploads: string, seed = 42): Promise<void> {
  const psql = (sql: string, input?: AsyncIterable<string>) => new Promise<void>((resolveRun, reject) => {
    const child = spawn('psql', [...psqlArgs, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env, stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolveRun() : reject(new Error(`psql exited ${code}: ${sql.slice(0, 60)}`))));
    if (input !== undefined && child.stdin !== null) {
      const stdin = child.stdin;
      void (async () => {
        for await (const chunk of input) if (!stdin.write(chunk)) await new Promise((r) => stdin.once('drain', r));
        stdin.end();
      })();
    }
  });
  await psql(SCHEMA);
  const rand = prng(seed);
  await copyInto(psql, 'categories', (async function* () {
    for (let i = 1; i <= 20; i++) yield `${i}\tCatégorie ${i}\n`;
  })());
  await copyInto(psql, 'ingredients', (async function* () {
    for (let i = 1; i <= size.ingredients; i++) yield `${i}\t${copyEscape(sentence(rand, 2))} ${i}\t${['g', 'ml', 'pièce'][i % 3]}\t${(rand() * 50).toFixed(2)}\n`;
  })());
  await copyInto(psql, 'recipes', (async function* () {
    let batch = '';
    for (let i = 1; i <= size.recipes; i++) {
      const paragraphs = 2 + Math.floor(rand() * 4);
      // A few very large rows, as real data has (a recipe pasted with a whole book chapter).
      const big = i % 50_000 === 7 ? 400 : 1;
      const instructions = Array.from({ length: paragraphs * big }, () => sentence(rand, 12 + Math.floor(rand() * 20))).join('\n\n');
      const created = new Date(Date.UTC(2020, 0, 1) + Math.floor(rand() * 5 * 365 * 86_400_000)).toISOString();
      const tags = `{${sentence(rand, 1).slice(0, -1).toLowerCase()},${sentence(rand, 1).slice(0, -1).toLowerCase()}}`;
      batch += `${i}\trecette-${i}\t${copyEscape(sentence(rand, 4))}\t${1 + (i % 20)}\t${1 + Math.floor(rand() * 8)}\t${5 + Math.floor(rand() * 120)}\t${(rand() * 5).toFixed(2)}\t${copyEscape(instructions)}\t${tags}\t${i % 3 === 0 ? `images/recipe-${i}.jpg` : '\\N'}\t${created}\n`;
      if (batch.length > 1_000_000) {
        yield batch;
        batch = '';
      }
    }
    yield batch;
  })());
  await copyInto(psql, 'recipe_ingredients', (async function* () {
    let batch = '';
    for (let i = 1; i <= size.recipes; i++) {
      const n = 2 + (i % 6);
      const seen = new Set<number>();
      for (let k = 0; k < n; k++) {
        const ingredient = 1 + Math.floor(rand() * size.ingredients);
        if (seen.has(ingredient)) continue;
        seen.add(ingredient);
        batch += `${i}\t${ingredient}\t${(1 + rand() * 500).toFixed(2)}\n`;
      }
      if (batch.length > 1_000_000) {
        yield batch;
        batch = '';
      }
    }
    yield batch;
  })());
  await psql('ANALYZE');
  await mkdir(join(uploads, 'images'), { recursive: true });
  for (let i = 0; i < size.uploads; i++) {
    // Incompressible, like JPEGs: a hash chain, deterministic and cheap.
    const bytes = Buffer.alloc(size.uploadBytes);
    let block = createHash('sha256').update(`${seed}-${i}`).digest();
    for (let offset = 0; offset < bytes.length; offset += block.length) {
      block.copy(bytes, offset);
      block = createHash('sha256').update(block).digest();
    }
    await writeFile(join(uploads, 'images', `recipe-${i * 3}.jpg`), bytes);
  }
}
