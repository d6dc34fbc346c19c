/**
 * A deterministic, seeded generator of data in Le Grimoire's real schema: users, recipes with titles,
 * multi-paragraph instructions, text[] ingredient lists, numbers and timestamps, a few very large
 * rows, tags, favorites and some structured ingredient links, and an uploads folder laid out as the
 * backend writes it (recipes/<uuid>.jpg) of image-sized incompressible files (like JPEGs). Rows are streamed into psql's COPY, never built
 * in memory as a whole.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SAMPLE_SCHEMA_SQL } from '../src/demo/sample-data.js';

export interface Size {
  recipes: number;
  ingredients: number;
  uploads: number;
  uploadBytes: number;
}

/**
 * photos: varied recipe text and incompressible images (the usual case); text: the same rows with
 * long, repetitive descriptions and instructions (templated recipes, pasted boilerplate), where gzip
 * at level 6 is cheap and compresses well, so the old scripts' pipeline is at its best.
 */
export type Shape = 'photos' | 'text';

const BOILERPLATE = 'Préchauffer le four à 180 °C. Beurrer et fariner le moule. Mélanger la farine, le sucre et le sel dans un grand bol, '
  + 'puis incorporer les œufs un à un en fouettant doucement. Verser la préparation dans le moule et cuire 35 minutes. ';

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

/** Le Grimoire's real schema (users, recipes with text[] ingredients, tags, favorites, …), as the demo's. */
export const SCHEMA = SAMPLE_SCHEMA_SQL;

/** A UUID that is a function of the row number, so runs are repeatable and no lookup is needed. */
function uuid(kind: number, i: number): string {
  return `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

const CATEGORIES = ['Entrées', 'Plats', 'Desserts', 'Boissons', 'Pains'];
const CUISINES = ['Française', 'Québécoise', 'Italienne', 'Marocaine'];

async function copyInto(psql: (sql: string, input: AsyncIterable<string>) => Promise<void>, table: string, rows: AsyncIterable<string>): Promise<void> {
  await psql(`COPY ${table} FROM STDIN`, rows);
}

/** Loads the data set into `database` with psql (COPY from stdin) and writes the uploads folder. */
export async function generate(size: Size, psqlArgs: string[], env: NodeJS.ProcessEnv, uploads: string, seed = 42, shape: Shape = 'photos'): Promise<void> {
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
  const users = Math.max(10, Math.floor(size.recipes / 50));
  await copyInto(psql, 'users (id, email, name, avatar_url, oauth_provider, oauth_provider_id, created_at, updated_at, username, password_hash, role, is_active)', (async function* () {
    let batch = '';
    for (let u = 1; u <= users; u++) {
      const created = new Date(Date.UTC(2020, 0, 1) + Math.floor(rand() * 5 * 365 * 86_400_000)).toISOString();
      const oauth = u % 3 === 0;
      const hash = createHash('sha256').update(`pw-${u}`).digest('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 53).padEnd(53, 'x');
      batch += `${uuid(1, u)}\tcuisinier${u}@exemple.fr\t${copyEscape(sentence(rand, 2).slice(0, -1))}\t${oauth ? `https://lh3.googleusercontent.com/a/${u}=s96-c` : '\\N'}\t${oauth ? 'google' : '\\N'}\t${oauth ? String(100_000_000_000 + u) : '\\N'}\t${created}\t${created}\tcuisinier${u}\t${oauth ? '\\N' : `$2b$12$${hash}`}\t${u === 1 ? 'admin' : u % 4 === 0 ? 'collaborator' : 'reader'}\tt\n`;
      if (batch.length > 1_000_000) {
        yield batch;
        batch = '';
      }
    }
    yield batch;
  })());
  await copyInto(psql, 'ingredients (id, name, english_name, french_name, default_unit)', (async function* () {
    for (let i = 1; i <= size.ingredients; i++) {
      const name = `${copyEscape(sentence(rand, 2).slice(0, -1))} ${i}`;
      yield `${i}\t${name}\t${name}\t${name}\t${['g', 'ml', 'pièce'][i % 3]}\n`;
    }
  })());
  const arrayItem = (text: string) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  await copyInto(psql, 'recipes (id, title, description, ingredients, instructions, servings, prep_time, cook_time, total_time, category, cuisine, image_url, source, user_id, is_public, created_at, updated_at, difficulty_level, equipment)', (async function* () {
    let batch = '';
    for (let i = 1; i <= size.recipes; i++) {
      const paragraphs = 2 + Math.floor(rand() * 3);
      // A few very large rows, as real data has (a recipe pasted with a whole book chapter).
      const big = i % 50_000 === 7 ? 400 : 1;
      const instructions = shape === 'text'
        ? Array.from({ length: paragraphs * big }, () => BOILERPLATE).join('\n\n')
        : Array.from({ length: paragraphs * big }, () => sentence(rand, 12 + Math.floor(rand() * 18))).join('\n\n');
      const created = new Date(Date.UTC(2020, 0, 1) + Math.floor(rand() * 5 * 365 * 86_400_000)).toISOString();
      const ingredients = Array.from({ length: 2 + (i % 5) }, () => arrayItem(`${10 * (1 + Math.floor(rand() * 50))} g de ${sentence(rand, 1).slice(0, -1).toLowerCase()}`));
      const prep = 5 + Math.floor(rand() * 60);
      const cook = Math.floor(rand() * 120);
      const title = sentence(rand, 4);
      const description = shape === 'text' ? `${sentence(rand, 5)} ${BOILERPLATE.repeat(2)}` : sentence(rand, 5);
      batch += `${uuid(2, i)}\t${copyEscape(title)}\t${copyEscape(description)}\t${copyEscape(`{${ingredients.join(',')}}`)}\t${copyEscape(instructions)}\t${1 + Math.floor(rand() * 8)}\t${prep}\t${cook}\t${prep + cook}\t${CATEGORIES[i % 5]}\t${CUISINES[i % 4]}\t${i % 3 === 0 ? `/uploads/recipes/${uuid(2, i)}.jpg` : '\\N'}\tmanual\t${uuid(1, 1 + (i % users))}\t${i % 9 === 0 ? 'f' : 't'}\t${created}\t${created}\t${['facile', 'moyen', 'difficile'][i % 3]}\t{four,bol}\n`;
      if (batch.length > 1_000_000) {
        yield batch;
        batch = '';
      }
    }
    yield batch;
  })());
  await copyInto(psql, 'recipe_tags (id, recipe_id, tag)', (async function* () {
    let batch = '';
    for (let i = 1; i <= size.recipes; i += 4) {
      batch += `${uuid(3, i)}\t${uuid(2, i)}\t${sentence(rand, 1).slice(0, -1).toLowerCase()}\n`;
      if (batch.length > 1_000_000) {
        yield batch;
        batch = '';
      }
    }
    yield batch;
  })());
  // The structured ingredient links exist for some recipes only; the text[] column is the main path.
  await copyInto(psql, 'recipe_ingredients (id, recipe_id, ingredient_id, quantity, unit, display_order)', (async function* () {
    let batch = '';
    let n = 0;
    for (let i = 1; i <= size.recipes; i += 4) {
      for (let k = 1; k <= 2; k++) batch += `${uuid(4, ++n)}\t${uuid(2, i)}\t${1 + Math.floor(rand() * size.ingredients)}\t${(1 + rand() * 500).toFixed(2)}\tg\t${k}\n`;
      if (batch.length > 1_000_000) {
        yield batch;
        batch = '';
      }
    }
    yield batch;
  })());
  await copyInto(psql, 'favorites (id, user_id, recipe_id)', (async function* () {
    let batch = '';
    for (let i = 1; i <= size.recipes; i += 5) {
      batch += `${uuid(5, i)}\t${uuid(1, 1 + ((i * 7) % users))}\t${uuid(2, i)}\n`;
      if (batch.length > 1_000_000) {
        yield batch;
        batch = '';
      }
    }
    yield batch;
  })());
  await psql('ANALYZE');
  await mkdir(join(uploads, 'recipes'), { recursive: true });
  for (let i = 0; i < size.uploads; i++) {
    // Incompressible, like JPEGs: a hash chain, deterministic and cheap.
    const bytes = Buffer.alloc(size.uploadBytes);
    let block = createHash('sha256').update(`${seed}-${i}`).digest();
    for (let offset = 0; offset < bytes.length; offset += block.length) {
      block.copy(bytes, offset);
      block = createHash('sha256').update(block).digest();
    }
    await writeFile(join(uploads, 'recipes', `${uuid(2, 3 * (i + 1))}.jpg`), bytes);
  }
}
