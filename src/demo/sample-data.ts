import { createHash } from 'node:crypto';
import { mkdir, writeFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Le Grimoire's PostgreSQL schema as its database/init.sql, backend/scripts/add_auth_columns.sql and
 * Alembic migrations leave it (userrole enum, UUID keys, text[] ingredients, the updated_at
 * triggers), with data generated in the server so it stays short here. Keys are md5-derived UUIDs,
 * so every run loads the same rows.
 */
export const SAMPLE_SCHEMA_SQL = `
CREATE TYPE userrole AS ENUM ('admin', 'collaborator', 'reader');
CREATE FUNCTION update_updated_at_column() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at = CURRENT_TIMESTAMP;
  RETURN NEW;
END;
$$;
CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email varchar(255) UNIQUE NOT NULL,
  name varchar(255),
  avatar_url text,
  oauth_provider varchar(50),
  oauth_provider_id varchar(255),
  created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  username varchar(100) NOT NULL,
  password_hash varchar(255),
  role userrole NOT NULL DEFAULT 'reader',
  is_active boolean NOT NULL DEFAULT true,
  UNIQUE (oauth_provider, oauth_provider_id)
);
CREATE UNIQUE INDEX ix_users_username ON users (username);
CREATE TABLE recipes (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  title varchar(500) NOT NULL,
  description text,
  ingredients text[] NOT NULL,
  instructions text NOT NULL,
  servings integer,
  prep_time integer,
  cook_time integer,
  total_time integer,
  category varchar(100),
  cuisine varchar(100),
  image_url text,
  original_image_url text,
  source varchar(255),
  user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  is_public boolean DEFAULT true,
  created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  difficulty_level varchar(50),
  temperature integer,
  temperature_unit varchar(10),
  notes text,
  equipment text[]
);
CREATE TABLE recipe_tags (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  recipe_id uuid REFERENCES recipes(id) ON DELETE CASCADE,
  tag varchar(100) NOT NULL,
  created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  UNIQUE (recipe_id, tag)
);
CREATE TABLE grocery_stores (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name varchar(100) NOT NULL,
  code varchar(50) UNIQUE NOT NULL,
  website_url text,
  created_at timestamptz DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE grocery_specials (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  store_id uuid REFERENCES grocery_stores(id) ON DELETE CASCADE,
  product_name varchar(500) NOT NULL,
  product_category varchar(100),
  original_price numeric(10,2),
  special_price numeric(10,2) NOT NULL,
  discount_percentage numeric(5,2),
  unit varchar(50),
  description text,
  image_url text,
  valid_from date NOT NULL,
  valid_until date NOT NULL,
  scraped_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE shopping_lists (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid REFERENCES users(id) ON DELETE CASCADE,
  name varchar(255) NOT NULL,
  created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE shopping_list_items (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  shopping_list_id uuid REFERENCES shopping_lists(id) ON DELETE CASCADE,
  recipe_id uuid REFERENCES recipes(id) ON DELETE SET NULL,
  ingredient_name varchar(500) NOT NULL,
  quantity numeric(10,2),
  unit varchar(50),
  is_purchased boolean DEFAULT false,
  matched_special_id uuid REFERENCES grocery_specials(id) ON DELETE SET NULL,
  notes text,
  created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  ingredient_off_id varchar(255)
);
CREATE TABLE favorites (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid REFERENCES users(id) ON DELETE CASCADE,
  recipe_id uuid REFERENCES recipes(id) ON DELETE CASCADE,
  created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  UNIQUE (user_id, recipe_id)
);
CREATE TABLE ocr_jobs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid REFERENCES users(id) ON DELETE SET NULL,
  image_path text NOT NULL,
  status varchar(50) DEFAULT 'pending',
  extracted_text text,
  parsed_recipe_id uuid REFERENCES recipes(id) ON DELETE SET NULL,
  error_message text,
  created_at timestamptz DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE ingredient_categories (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name varchar(100) NOT NULL UNIQUE,
  parent_category_id uuid REFERENCES ingredient_categories(id),
  display_order integer,
  icon varchar(50),
  created_at timestamptz DEFAULT now(),
  name_en varchar(100),
  name_fr varchar(100)
);
CREATE TABLE units (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name varchar(50) NOT NULL UNIQUE,
  abbreviation varchar(20),
  type varchar(50),
  system varchar(20),
  conversion_to_base numeric(10,6),
  base_unit varchar(50),
  created_at timestamptz DEFAULT now()
);
CREATE TABLE ingredients (
  id integer PRIMARY KEY,
  name varchar(255) NOT NULL,
  english_name varchar(255) NOT NULL,
  french_name varchar(255) NOT NULL,
  gender varchar(1),
  name_plural varchar(255),
  category_id uuid REFERENCES ingredient_categories(id),
  subcategory varchar(100),
  default_unit varchar(50),
  aliases text[],
  notes text,
  is_active boolean DEFAULT true,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now()
);
CREATE TABLE recipe_ingredients (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  recipe_id uuid NOT NULL REFERENCES recipes(id) ON DELETE CASCADE,
  ingredient_id integer REFERENCES ingredients(id) ON DELETE RESTRICT,
  quantity numeric(10,3),
  quantity_max numeric(10,3),
  unit varchar(50),
  preparation_notes text,
  is_optional boolean DEFAULT false,
  display_order integer,
  created_at timestamptz DEFAULT now(),
  ingredient_off_id varchar(255)
);
CREATE TABLE ingredient_images (
  id uuid PRIMARY KEY,
  ingredient_id integer NOT NULL REFERENCES ingredients(id) ON DELETE CASCADE,
  image_url text NOT NULL,
  thumbnail_url text,
  source varchar(50),
  source_id varchar(255),
  photographer varchar(255),
  photographer_url text,
  width integer,
  height integer,
  alt_text text,
  is_primary boolean DEFAULT false,
  is_approved boolean DEFAULT true,
  display_order integer DEFAULT 0,
  relevance_score integer,
  quality_score integer,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now()
);
CREATE INDEX idx_recipes_user_id ON recipes(user_id);
CREATE INDEX idx_recipes_is_public ON recipes(is_public);
CREATE INDEX idx_recipes_created_at ON recipes(created_at DESC);
CREATE INDEX idx_recipe_tags_recipe_id ON recipe_tags(recipe_id);
CREATE INDEX idx_recipe_tags_tag ON recipe_tags(tag);
CREATE INDEX idx_grocery_specials_store_id ON grocery_specials(store_id);
CREATE INDEX idx_grocery_specials_valid_dates ON grocery_specials(valid_from, valid_until);
CREATE INDEX idx_shopping_list_items_list_id ON shopping_list_items(shopping_list_id);
CREATE INDEX idx_favorites_user_id ON favorites(user_id);
CREATE INDEX idx_ocr_jobs_user_id ON ocr_jobs(user_id);
CREATE INDEX idx_ocr_jobs_status ON ocr_jobs(status);
CREATE INDEX idx_ingredients_name ON ingredients(name);
CREATE INDEX idx_ingredients_category ON ingredients(category_id);
CREATE INDEX idx_recipe_ingredients_recipe ON recipe_ingredients(recipe_id);
CREATE INDEX idx_recipe_ingredients_ingredient ON recipe_ingredients(ingredient_id);
CREATE INDEX ix_ingredient_images_ingredient_id ON ingredient_images(ingredient_id);
CREATE INDEX ix_ingredient_images_is_primary ON ingredient_images(is_primary);
CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_recipes_updated_at BEFORE UPDATE ON recipes FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_grocery_specials_updated_at BEFORE UPDATE ON grocery_specials FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_shopping_lists_updated_at BEFORE UPDATE ON shopping_lists FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_shopping_list_items_updated_at BEFORE UPDATE ON shopping_list_items FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_ocr_jobs_updated_at BEFORE UPDATE ON ocr_jobs FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_ingredients_updated_at BEFORE UPDATE ON ingredients FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
`;

const INGREDIENT_NAMES = ['farine', 'beurre', 'sucre', 'œufs', 'lait', 'sel', 'poivre', 'crème', 'chocolat', 'pommes',
  'oignons', 'ail', 'tomates', 'basilic', "huile d'olive", 'levure', 'citron', 'vanille', 'riz', 'poulet'];
const ENGLISH_NAMES = ['flour', 'butter', 'sugar', 'eggs', 'milk', 'salt', 'pepper', 'cream', 'chocolate', 'apples',
  'onions', 'garlic', 'tomatoes', 'basil', 'olive oil', 'yeast', 'lemon', 'vanilla', 'rice', 'chicken'];

/**
 * Rows for that schema: `users` users (a third with Google sign-in, the rest with a bcrypt-shaped
 * password hash), `recipes` recipes and their tags, favorites, shopping lists, OCR jobs and ingredient
 * links, two stores and their specials. `repeat` lengthens the free text (the benchmark's sizes).
 */
export function sampleDataSql(options: { users: number; recipes: number; repeat: number }): string {
  const { users, recipes, repeat } = options;
  const literal = (n: string) => `'${n.replace(/'/g, "''")}'`;
  const names = INGREDIENT_NAMES.map(literal).join(',');
  const english = ENGLISH_NAMES.map(literal).join(',');
  return `
INSERT INTO users (id, email, name, avatar_url, oauth_provider, oauth_provider_id, created_at, updated_at, username, password_hash, role, is_active)
  SELECT md5('user' || i)::uuid,
         format('%s.%s%s@exemple.fr', (ARRAY['julie','marc','chloé','antoine','léa','hugo'])[1 + i % 6], (ARRAY['tremblay','gagnon','roy','côté','bouchard'])[1 + i % 5], i),
         format('%s %s', initcap((ARRAY['julie','marc','chloé','antoine','léa','hugo'])[1 + i % 6]), initcap((ARRAY['tremblay','gagnon','roy','côté','bouchard'])[1 + i % 5])),
         CASE WHEN i % 3 = 0 THEN format('https://lh3.googleusercontent.com/a/%s=s96-c', md5('avatar' || i)) END,
         CASE WHEN i % 3 = 0 THEN 'google' END,
         CASE WHEN i % 3 = 0 THEN (100000000000000000000 + i * 7919)::text END,
         timestamptz '2025-01-01 12:00:00+00' + i * interval '3 days',
         timestamptz '2025-01-01 12:00:00+00' + i * interval '3 days',
         format('cuisinier%s', i),
         CASE WHEN i % 3 <> 0 THEN '$2b$12$' || substr(md5('salt' || i) || md5('hash' || i), 1, 53) END,
         (CASE WHEN i = 1 THEN 'admin' WHEN i % 4 = 0 THEN 'collaborator' ELSE 'reader' END)::userrole,
         i % 11 <> 0
  FROM generate_series(1, ${users}) AS i;
INSERT INTO grocery_stores (id, name, code, website_url, created_at) VALUES
  (md5('store-iga')::uuid, 'IGA', 'iga', 'https://www.iga.net', timestamptz '2025-01-01 00:00:00+00'),
  (md5('store-metro')::uuid, 'Metro', 'metro', 'https://www.metro.ca', timestamptz '2025-01-01 00:00:00+00');
INSERT INTO ingredient_categories (id, name, display_order, icon, created_at, name_en, name_fr)
  SELECT md5('cat' || i)::uuid, n, i::int, (ARRAY['🥖','🧈','🍬','🥚','🥛'])[i], timestamptz '2025-01-01 00:00:00+00', e, n
  FROM unnest(ARRAY['Farines','Produits laitiers','Sucres','Œufs','Autres'], ARRAY['Flours','Dairy','Sugars','Eggs','Other']) WITH ORDINALITY AS t(n, e, i);
INSERT INTO units (id, name, abbreviation, type, system, conversion_to_base, base_unit, created_at) VALUES
  (md5('unit-g')::uuid, 'gramme', 'g', 'weight', 'metric', 1, 'gramme', timestamptz '2025-01-01 00:00:00+00'),
  (md5('unit-ml')::uuid, 'millilitre', 'ml', 'volume', 'metric', 1, 'millilitre', timestamptz '2025-01-01 00:00:00+00'),
  (md5('unit-tbsp')::uuid, 'cuillère à soupe', 'c. à soupe', 'volume', 'both', 15, 'millilitre', timestamptz '2025-01-01 00:00:00+00');
INSERT INTO ingredients (id, name, english_name, french_name, gender, category_id, default_unit, aliases, created_at, updated_at)
  SELECT i::int, n, (ARRAY[${english}])[i], n, (ARRAY['f','m'])[1 + i % 2], md5('cat' || (1 + i % 5))::uuid,
         (ARRAY['g','ml','pièce','c. à soupe'])[1 + i % 4], ARRAY[n || 's'], timestamptz '2025-01-01 00:00:00+00', timestamptz '2025-01-01 00:00:00+00'
  FROM unnest(ARRAY[${names}]) WITH ORDINALITY AS t(n, i);
INSERT INTO ingredient_images (id, ingredient_id, image_url, source, source_id, photographer, width, height, alt_text, is_primary, created_at, updated_at)
  SELECT md5('img' || i)::uuid, i, format('https://images.unsplash.com/photo-%s', md5('u' || i)), 'unsplash', md5('u' || i), 'Unsplash', 800, 600, n, true,
         timestamptz '2025-01-01 00:00:00+00', timestamptz '2025-01-01 00:00:00+00'
  FROM unnest(ARRAY[${names}]) WITH ORDINALITY AS t(n, i);
INSERT INTO recipes (id, title, description, ingredients, instructions, servings, prep_time, cook_time, total_time, category, cuisine,
                     image_url, source, user_id, is_public, created_at, updated_at, difficulty_level, temperature, temperature_unit, notes, equipment)
  SELECT md5('recipe' || i)::uuid,
         format('Recette n°%s : %s', i, (ARRAY['tarte','gratin','soupe','crêpes','ragoût','salade'])[1 + i % 6]),
         repeat(format('Une recette familiale, transmise depuis %s générations. ', 1 + i % 4), ${repeat}),
         ARRAY(SELECT format('%s g de %s', 50 * (k + 1), (ARRAY[${names}])[1 + (i * k) % 20]) FROM generate_series(1, 2 + i % 5) AS k),
         repeat(format('Étape %s : mélanger, cuire, servir chaud. ', i), (1 + i % 7) * ${repeat}),
         2 + i % 6, 5 + i % 40, 10 + i % 90, 15 + i % 130,
         (ARRAY['Entrées','Plats','Desserts','Boissons','Pains'])[1 + i % 5],
         (ARRAY['Française','Québécoise','Italienne','Marocaine'])[1 + i % 4],
         CASE WHEN i % 3 = 0 THEN format('/uploads/recipes/%s.jpg', md5('recipe' || i)::uuid) END,
         CASE WHEN i % 5 = 0 THEN 'ocr' ELSE 'manual' END,
         md5('user' || (1 + i % ${users}))::uuid,
         i % 9 <> 0,
         timestamptz '2025-01-01 12:00:00+00' + i * interval '7 hours',
         timestamptz '2025-01-01 12:00:00+00' + i * interval '7 hours',
         (ARRAY['facile','moyen','difficile'])[1 + i % 3],
         CASE WHEN i % 2 = 0 THEN 175 + (i % 4) * 25 END,
         CASE WHEN i % 2 = 0 THEN 'C' END,
         CASE WHEN i % 4 = 0 THEN 'Se congèle bien.' END,
         ARRAY['four', 'bol', 'fouet']
  FROM generate_series(1, ${recipes}) AS i;
INSERT INTO recipe_tags (id, recipe_id, tag, created_at)
  SELECT md5('tag' || i || t)::uuid, md5('recipe' || i)::uuid, t, timestamptz '2025-01-01 12:00:00+00' + i * interval '7 hours'
  FROM generate_series(1, ${recipes}) AS i, unnest(ARRAY['végétarien','rapide','familial']) AS t
  WHERE (i + length(t)) % 2 = 0;
INSERT INTO recipe_ingredients (id, recipe_id, ingredient_id, quantity, unit, is_optional, display_order, created_at, ingredient_off_id)
  SELECT md5('ri' || i || '-' || k)::uuid, md5('recipe' || i)::uuid, 1 + (i * k) % 20, (i % 9 + k) * 12.5, 'g', k = 4, k,
         timestamptz '2025-01-01 12:00:00+00' + i * interval '7 hours', 'en:' || (ARRAY[${english}])[1 + (i * k) % 20]
  FROM generate_series(1, ${recipes}) AS i, generate_series(1, 4) AS k;
INSERT INTO favorites (id, user_id, recipe_id, created_at)
  SELECT md5('fav' || u || '-' || r)::uuid, md5('user' || u)::uuid, md5('recipe' || r)::uuid, timestamptz '2025-06-01 00:00:00+00' + (u * r) * interval '1 minute'
  FROM generate_series(1, ${users}) AS u, generate_series(1, ${recipes}) AS r
  WHERE (u * 7 + r * 3) % 23 = 0;
INSERT INTO shopping_lists (id, user_id, name, created_at, updated_at)
  SELECT md5('list' || u)::uuid, md5('user' || u)::uuid, format('Épicerie semaine %s', u), timestamptz '2025-06-01 00:00:00+00', timestamptz '2025-06-01 00:00:00+00'
  FROM generate_series(1, ${users}) AS u WHERE u % 2 = 0;
INSERT INTO grocery_specials (id, store_id, product_name, product_category, original_price, special_price, discount_percentage, unit, valid_from, valid_until, scraped_at, created_at, updated_at)
  SELECT md5('special' || i)::uuid, md5(CASE WHEN i % 2 = 0 THEN 'store-iga' ELSE 'store-metro' END)::uuid, initcap((ARRAY[${names}])[1 + i % 20]), 'Épicerie',
         4.99 + i % 5, 2.99 + i % 3, 25, (ARRAY['lb','kg','unit','l'])[1 + i % 4], date '2025-06-05', date '2025-06-11',
         timestamptz '2025-06-05 06:00:00+00', timestamptz '2025-06-05 06:00:00+00', timestamptz '2025-06-05 06:00:00+00'
  FROM generate_series(1, 40) AS i;
INSERT INTO shopping_list_items (id, shopping_list_id, recipe_id, ingredient_name, quantity, unit, is_purchased, matched_special_id, created_at, updated_at, ingredient_off_id)
  SELECT md5('item' || u || '-' || k)::uuid, md5('list' || u)::uuid, md5('recipe' || (1 + (u * k) % ${recipes}))::uuid, (ARRAY[${names}])[1 + (u + k) % 20], k * 250, 'g', k % 2 = 0,
         CASE WHEN k = 1 THEN md5('special' || (1 + u % 40))::uuid END, timestamptz '2025-06-01 00:00:00+00', timestamptz '2025-06-01 00:00:00+00',
         'en:' || (ARRAY[${english}])[1 + (u + k) % 20]
  FROM generate_series(1, ${users}) AS u, generate_series(1, 6) AS k WHERE u % 2 = 0;
INSERT INTO ocr_jobs (id, user_id, image_path, status, extracted_text, parsed_recipe_id, error_message, created_at, updated_at)
  SELECT md5('ocr' || i)::uuid, md5('user' || (1 + i % ${users}))::uuid, format('/app/uploads/%s_carnet-%s.jpg', md5('ocr' || i)::uuid, i),
         (ARRAY['completed','completed','failed','pending'])[1 + i % 4],
         CASE WHEN i % 4 < 2 THEN repeat('Tarte aux pommes : 200 g de farine, 100 g de beurre… ', ${repeat}) END,
         CASE WHEN i % 4 < 2 THEN md5('recipe' || (5 * i))::uuid END,
         CASE WHEN i % 4 = 2 THEN 'Tesseract: no text found' END,
         timestamptz '2025-03-01 00:00:00+00' + i * interval '1 day', timestamptz '2025-03-01 00:00:00+00' + i * interval '1 day'
  FROM generate_series(1, ${Math.max(1, Math.floor(recipes / 5))}) AS i;
`;
}

/** The demo's database: the real schema, a dozen users and 250 recipes. */
export const SAMPLE_SQL = SAMPLE_SCHEMA_SQL + sampleDataSql({ users: 12, recipes: 250, repeat: 1 });

/**
 * An uploads folder laid out as the backend writes /app/uploads: recipes/<uuid>.jpg (recipe_images),
 * wines/<uuid>.jpg, and <id>_<name> at the top for OCR and AI extraction. Image-sized incompressible
 * bytes; also an empty file and a link, which a backup must carry as they are.
 */
export async function writeSampleUploads(root: string): Promise<void> {
  await mkdir(join(root, 'recipes'), { recursive: true });
  await mkdir(join(root, 'wines'), { recursive: true });
  let seed = 42;
  const noise = (size: number) => {
    const bytes = Buffer.alloc(size);
    for (let j = 0; j < bytes.length; j++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      bytes[j] = seed >> 16;
    }
    return bytes;
  };
  for (let i = 3; i <= 24; i += 3) await writeFile(join(root, 'recipes', `${uuidOf(`recipe${i}`)}.jpg`), noise(20_000 + i * 1000));
  await writeFile(join(root, 'wines', `${uuidOf('wine1')}.jpg`), noise(30_000));
  await writeFile(join(root, `${uuidOf('ocr1')}_carnet de grand-mère.jpg`), noise(25_000));
  await writeFile(join(root, `${uuidOf('ocr2')}_vide.txt`), '');
  await symlink(`recipes/${uuidOf('recipe3')}.jpg`, join(root, 'couverture.jpg'));
}

/** PostgreSQL's md5(text)::uuid, so file names match the rows' image_url. */
function uuidOf(text: string): string {
  const hex = createHash('md5').update(text).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface MongoSampleSize {
  recipes: number;
  ingredients: number;
  categories: number;
  logs: number;
  wines: number;
  liquors: number;
}

export const DEMO_MONGO_SIZE: MongoSampleSize = { recipes: 250, ingredients: 60, categories: 40, logs: 30, wines: 12, liquors: 8 };

const CUISINES = ['Française', 'Québécoise', 'Italienne', 'Marocaine'];
const CATEGORIES = ['Entrées', 'Plats', 'Desserts', 'Boissons', 'Pains'];
const at = (base: number, i: number, stepHours: number) => new Date(base + i * stepHours * 3_600_000);
const T0 = Date.UTC(2025, 0, 1, 12);

/**
 * Documents shaped as the app's Beanie models write them (backend/app/models/mongodb): recipes,
 * the OpenFoodFacts ingredients and categories taxonomies, ai_extraction_logs (with the user's
 * e-mail), and wines and liquors with their nested arrays and per-source sub-documents.
 */
export function sampleMongoCollections(size: MongoSampleSize = DEMO_MONGO_SIZE): Record<string, Array<Record<string, unknown>>> {
  const offId = (i: number) => `en:${ENGLISH_NAMES[i % ENGLISH_NAMES.length]?.replace(/ /g, '-')}${i < ENGLISH_NAMES.length ? '' : `-${i}`}`;
  const recipes = Array.from({ length: size.recipes }, (_, i) => ({
    title: `Recette n°${i + 1}`,
    description: `Une recette familiale, transmise depuis ${1 + (i % 4)} générations.`,
    ingredients: Array.from({ length: 2 + (i % 5) }, (__, k) => `${50 * (k + 1)} g de ${INGREDIENT_NAMES[(i * (k + 1)) % INGREDIENT_NAMES.length]}`),
    instructions: `Étape ${i + 1} : mélanger, cuire, servir chaud. `.repeat(1 + (i % 7)),
    servings: 2 + (i % 6),
    prep_time: 5 + (i % 40),
    cook_time: 10 + (i % 90),
    total_time: 15 + (i % 130),
    category: CATEGORIES[i % CATEGORIES.length],
    cuisine: CUISINES[i % CUISINES.length],
    image_url: i % 3 === 0 ? `/uploads/recipes/${uuidOf(`recipe${i + 1}`)}.jpg` : null,
    is_public: i % 9 !== 0,
    equipment: ['four', 'bol', 'fouet'],
    created_at: at(T0, i, 7),
    updated_at: at(T0, i, 7),
    // extra="allow": fields the model does not declare are kept as they came.
    ...(i % 10 === 0 ? { difficulty_level: 'facile', source: 'ocr' } : {}),
  }));
  const ingredients = Array.from({ length: size.ingredients }, (_, i) => ({
    off_id: offId(i),
    names: { en: ENGLISH_NAMES[i % ENGLISH_NAMES.length], fr: INGREDIENT_NAMES[i % INGREDIENT_NAMES.length], es: ENGLISH_NAMES[i % ENGLISH_NAMES.length] },
    parents: i < ENGLISH_NAMES.length ? [] : [offId(i % ENGLISH_NAMES.length)],
    children: i < ENGLISH_NAMES.length && i + ENGLISH_NAMES.length < size.ingredients ? [offId(i + ENGLISH_NAMES.length)] : [],
    properties: { vegan: i % 3 === 0 ? 'no' : 'yes', vegetarian: 'yes' },
    wikidata_id: `Q${23_501 + i}`,
    ciqual_food_code: i % 2 === 0 ? String(20_000 + i) : null,
    e_number: null,
    custom: i % 15 === 14,
    created_at: at(T0, i, 1),
    updated_at: at(T0, i, 1),
  }));
  const categories = Array.from({ length: size.categories }, (_, i) => ({
    off_id: i === 0 ? 'en:plant-based-foods' : `en:category-${i}`,
    names: { en: `Category ${i}`, fr: `Catégorie ${i}` },
    parents: i === 0 ? [] : ['en:plant-based-foods'],
    children: i === 0 ? Array.from({ length: Math.min(size.categories - 1, 10) }, (__, k) => `en:category-${k + 1}`) : [],
    icon: i % 4 === 0 ? '🌱' : null,
    wikidata_id: `Q${16_587_531 + i}`,
    agribalyse_code: null,
    origins: i % 5 === 0 ? ['en:france'] : [],
    created_at: at(T0, i, 1),
    updated_at: at(T0, i, 1),
  }));
  const ai_extraction_logs = Array.from({ length: size.logs }, (_, i) => ({
    extraction_method: (['ai', 'ocr', 'ocr_fallback'] as const)[i % 3],
    provider: (['openai', 'tesseract', 'tesseract'] as const)[i % 3],
    model_name: i % 3 === 0 ? 'gpt-4o' : null,
    user_id: uuidOf(`user${1 + (i % 12)}`),
    user_email: `cuisinier${1 + (i % 12)}@exemple.fr`,
    original_image_path: `/app/uploads/${uuidOf(`ocr${i}`)}_carnet-${i}.jpg`,
    image_url: `/uploads/${uuidOf(`ocr${i}`)}_carnet-${i}.jpg`,
    image_size_bytes: 250_000 + i * 1000,
    recipe_id: i % 4 === 3 ? null : uuidOf(`recipe${5 * (i + 1)}`),
    recipe_title: `Recette n°${5 * (i + 1)}`,
    confidence_score: 0.6 + (i % 4) / 10,
    success: i % 4 !== 3,
    error_message: i % 4 === 3 ? 'no text found' : null,
    prompt_tokens: i % 3 === 0 ? 1200 + i : null,
    completion_tokens: i % 3 === 0 ? 400 + i : null,
    total_tokens: i % 3 === 0 ? 1600 + 2 * i : null,
    estimated_cost_usd: i % 3 === 0 ? 0.01 : null,
    processing_time_ms: 800 + i * 13,
    raw_response: i % 3 === 0 ? '{"title": "Tarte aux pommes"}' : null,
    model_metadata: i % 3 === 0 ? { temperature: 0.2 } : {},
    created_at: at(T0, i, 24),
  }));
  const wines = Array.from({ length: size.wines }, (_, i) => ({
    name: `Château Exemple ${i + 1}`,
    producer: 'Château Exemple',
    vintage: 2015 + (i % 8),
    country: 'France',
    region: (['Bordeaux', 'Bourgogne', 'Loire'] as const)[i % 3],
    appellation: 'Pauillac',
    wine_type: (['red', 'white', 'rosé', 'sparkling'] as const)[i % 4],
    grape_varieties: [{ name: 'Cabernet Sauvignon', percentage: 70 }, { name: 'Merlot', percentage: 30 }],
    alcohol_content: 13.5,
    body: 'full',
    nose: ['cassis', 'cèdre'],
    palate: ['tanins fermes'],
    tasting_notes: 'Belle longueur.',
    food_pairings: ['agneau', 'fromages'],
    suggested_recipe_ids: [uuidOf(`recipe${i + 1}`)],
    purchase_date: at(T0, i, 240),
    purchase_price: 45 + i,
    current_quantity: i % 6,
    professional_ratings: [{ source: 'Wine Spectator', score: 92, year: 2020 }],
    lwin7: String(1_000_000 + i),
    image_sources: { lwin: { url: `https://example.org/lwin/${i}.jpg`, source: 'lwin', quality: 'medium', updated: at(T0, i, 24) } },
    price_data: { saq: { value: 49.75, currency: 'CAD', source: 'saq', in_stock: true, updated: at(T0, i, 24) } },
    ratings: { vivino: { score: 4.1, count: 320, source: 'vivino' } },
    data_source: 'manual',
    enriched_by: ['lwin'],
    last_synced: { lwin: at(T0, i, 24) },
    sync_enabled: { lwin: true },
    is_public: false,
    user_id: uuidOf(`user${1 + (i % 12)}`),
    created_at: at(T0, i, 24),
    updated_at: at(T0, i, 24),
  }));
  const liquors = Array.from({ length: size.liquors }, (_, i) => ({
    name: `Spiritueux ${i + 1}`,
    brand: 'Maison Exemple',
    liquor_type: (['cognac', 'gin', 'whisky', 'rum'] as const)[i % 4],
    origin: (['france', 'canada', 'scotland', 'caribbean'] as const)[i % 4],
    region: 'Cognac',
    distillery: 'Maison Exemple',
    alcohol_content: 40,
    age_statement: i % 2 === 0 ? 'XO' : null,
    flavor_notes: ['vanille', 'chêne', 'fruits secs'],
    cocktail_suggestions: ['Sidecar'],
    food_pairings: [],
    awards: [],
    saq_code: String(10_000 + i),
    names: { fr: `Spiritueux ${i + 1}`, en: `Spirit ${i + 1}` },
    organic: false,
    kosher: false,
    gluten_free: true,
    custom: i % 3 === 0,
    created_by: uuidOf(`user${1 + (i % 12)}`),
    created_at: at(T0, i, 24),
    updated_at: at(T0, i, 24),
  }));
  return { recipes, ingredients, categories, ai_extraction_logs, wines, liquors };
}
