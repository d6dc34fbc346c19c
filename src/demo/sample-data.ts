import { mkdir, writeFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';

/** A small Le Grimoire-shaped schema with data, generated in the server so it stays short here. */
export const SAMPLE_SQL = `
CREATE TABLE categories (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE ingredients (id serial PRIMARY KEY, name text NOT NULL UNIQUE, unit text NOT NULL);
CREATE TABLE recipes (
  id serial PRIMARY KEY,
  title text NOT NULL,
  category_id integer NOT NULL REFERENCES categories(id),
  servings integer NOT NULL CHECK (servings > 0),
  instructions text NOT NULL,
  image_path text,
  created_at timestamptz NOT NULL
);
CREATE TABLE recipe_ingredients (
  recipe_id integer NOT NULL REFERENCES recipes(id) ON DELETE CASCADE,
  ingredient_id integer NOT NULL REFERENCES ingredients(id),
  quantity numeric(8,2) NOT NULL,
  PRIMARY KEY (recipe_id, ingredient_id)
);
CREATE INDEX recipes_title_search ON recipes USING gin (to_tsvector('french', title || ' ' || instructions));
INSERT INTO categories (name) VALUES ('Entrées'), ('Plats'), ('Desserts'), ('Boissons'), ('Pains');
INSERT INTO ingredients (name, unit)
  SELECT n, (ARRAY['g','ml','pièce','c. à soupe'])[1 + i % 4]
  FROM unnest(ARRAY['farine','beurre','sucre','œufs','lait','sel','poivre','crème','chocolat','pommes',
                    'oignons','ail','tomates','basilic','huile d''olive','levure','citron','vanille','riz','poulet'])
       WITH ORDINALITY AS t(n, i);
INSERT INTO recipes (title, category_id, servings, instructions, image_path, created_at)
  SELECT format('Recette n°%s : %s', i, (ARRAY['tarte','gratin','soupe','crêpes','ragoût','salade'])[1 + i % 6]),
         1 + i % 5, 2 + i % 6,
         repeat(format('Étape %s : mélanger, cuire, servir chaud. ', i), 1 + i % 7),
         CASE WHEN i % 3 = 0 THEN format('images/recipe-%s.jpg', i) END,
         timestamptz '2025-01-01 12:00:00+00' + i * interval '7 hours'
  FROM generate_series(1, 250) AS i;
INSERT INTO recipe_ingredients (recipe_id, ingredient_id, quantity)
  SELECT r, 1 + (r * k) % 20, (r % 9 + k) * 12.5
  FROM generate_series(1, 250) AS r, generate_series(1, 4) AS k
  ON CONFLICT DO NOTHING;
`;

/** A few upload files: image-sized incompressible bytes, OCR text, a nested folder and a link. */
export async function writeSampleUploads(root: string): Promise<void> {
  await mkdir(join(root, 'images'), { recursive: true });
  await mkdir(join(root, 'ocr', '2025'), { recursive: true });
  let seed = 42;
  for (let i = 3; i <= 30; i += 3) {
    const bytes = Buffer.alloc(20_000 + i * 1000);
    for (let j = 0; j < bytes.length; j++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      bytes[j] = seed >> 16;
    }
    await writeFile(join(root, 'images', `recipe-${i}.jpg`), bytes);
  }
  await writeFile(join(root, 'ocr', '2025', 'carnet de grand-mère.txt'), 'Tarte aux pommes : 200 g de farine, 100 g de beurre…\n');
  await writeFile(join(root, 'ocr', 'vide.txt'), '');
  await symlink('images/recipe-3.jpg', join(root, 'couverture.jpg'));
}

/** The same recipes as documents, the shape Le Grimoire keeps in MongoDB. */
export function sampleMongoCollections(): Record<string, Array<Record<string, unknown>>> {
  const categories = ['Entrées', 'Plats', 'Desserts', 'Boissons', 'Pains'].map((name, i) => ({ slug: `cat-${i + 1}`, name }));
  const ingredients = ['farine', 'beurre', 'sucre', 'œufs', 'lait', 'sel', 'chocolat', 'pommes', 'tomates', 'basilic'].map((name, i) => ({ name, unit: i % 2 ? 'g' : 'ml' }));
  const recipes = Array.from({ length: 250 }, (_, i) => ({
    title: `Recette n°${i + 1}`,
    category: categories[i % categories.length]?.slug,
    servings: 2 + (i % 6),
    ingredients: Array.from({ length: 1 + (i % 4) }, (_, k) => ({ name: ingredients[(i + k) % ingredients.length]?.name, quantity: (k + 1) * 50 })),
    steps: [`Préparer les ingrédients.`, `Cuire ${10 + (i % 30)} minutes.`, 'Servir.'],
    createdAt: new Date(Date.UTC(2025, 0, 1) + i * 7 * 3_600_000),
  }));
  return { categories, ingredients, recipes };
}
