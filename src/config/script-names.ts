/**
 * The variable names of the Le Grimoire shell scripts (backup-production.sh, restore-backup.sh,
 * check-backup-health.sh), read as the lowest layer: a key they map to is used only when neither the
 * config file nor one of Ferry's own variables set it.
 */
export const SCRIPT_NAMES: ReadonlyArray<{ variable: string; path: string }> = [
  { variable: 'BACKUP_DIR', path: 'backup.directory' },
  { variable: 'POSTGRES_CONTAINER', path: 'postgres.exec' },
  { variable: 'POSTGRES_USER', path: 'postgres.url' },
  { variable: 'POSTGRES_PASSWORD', path: 'postgres.url' },
  { variable: 'POSTGRES_DB', path: 'postgres.url' },
  { variable: 'MONGODB_CONTAINER', path: 'mongodb.exec' },
  { variable: 'BACKEND_CONTAINER', path: 'uploads.exec' },
];

/** The scripts' defaults when only the container is named (backup-production.sh). */
const SCRIPT_PG_USER = 'grimoire';
const SCRIPT_PG_DB = 'le_grimoire';
/** The application's MongoDB database (the scripts dumped every one; this is the one restored). */
const SCRIPT_MONGO_DB = 'legrimoire';
/** Where the backend container keeps the uploads (docker-compose.prod.yml: uploaded_images:/app/uploads). */
const BACKEND_UPLOADS = '/app/uploads';

type Tree = Record<string, unknown>;

function section(tree: Tree, name: string): Tree | undefined {
  const value = tree[name];
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Tree) : undefined;
}

function unset(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

const set = (env: NodeJS.ProcessEnv, name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);

/**
 * Fills the keys the scripts' variables map to, when still unset. `hasKey` tells which optional keys
 * this build knows (mongodb.exec, uploads.exec): a container variable for a key it lacks is reported,
 * not silently ignored. Returns warnings.
 */
export function applyScriptNames(tree: Tree, env: NodeJS.ProcessEnv, hasKey: (path: string) => boolean): string[] {
  const warnings: string[] = [];
  const backupDir = set(env, 'BACKUP_DIR');
  if (backupDir !== undefined) {
    const backup = section(tree, 'backup') ?? {};
    if (unset(backup.directory)) tree.backup = { ...backup, directory: backupDir };
  }

  // As the scripts did with docker exec: the tools run in the database container and reach the server there.
  const pgContainer = set(env, 'POSTGRES_CONTAINER');
  const pgNamed = ['POSTGRES_USER', 'POSTGRES_DB', 'POSTGRES_PASSWORD'].filter((name) => set(env, name) !== undefined);
  const postgres = section(tree, 'postgres') ?? {};
  if (unset(postgres.url)) {
    const exec = unset(postgres.exec) ? (pgContainer === undefined ? undefined : `docker://${pgContainer}`) : String(postgres.exec);
    if (exec !== undefined) {
      const user = encodeURIComponent(set(env, 'POSTGRES_USER') ?? SCRIPT_PG_USER);
      const password = set(env, 'POSTGRES_PASSWORD');
      const db = encodeURIComponent(set(env, 'POSTGRES_DB') ?? SCRIPT_PG_DB);
      const url = `postgresql://${user}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@localhost/${db}`;
      tree.postgres = { ...postgres, url, exec };
    } else if (pgNamed.length > 0) {
      warnings.push(`${pgNamed.join(', ')} ${pgNamed.length === 1 ? 'is' : 'are'} set but PostgreSQL is not backed up: set DATABASE_URL, or POSTGRES_CONTAINER (the scripts used le-grimoire-db-prod) to run the tools inside that container`);
    }
  }

  // As the scripts did: mongodump ran in the MongoDB container against its own localhost:27017.
  const mongoContainer = set(env, 'MONGODB_CONTAINER');
  if (mongoContainer !== undefined) {
    const mongodb = section(tree, 'mongodb') ?? {};
    if (!hasKey('mongodb.exec')) warnings.push('MONGODB_CONTAINER is ignored: this build has no mongodb.exec; set MONGODB_URL to a server Ferry can reach');
    else {
      const url = unset(mongodb.url) ? `mongodb://localhost:27017/${unset(mongodb.database) ? SCRIPT_MONGO_DB : ''}` : mongodb.url;
      tree.mongodb = { ...mongodb, url, exec: unset(mongodb.exec) ? `docker://${mongoContainer}` : mongodb.exec };
    }
  }
  // The uploads lived in the backend container's volume; a folder named by UPLOADS_DIR or the file wins.
  const backendContainer = set(env, 'BACKEND_CONTAINER');
  if (backendContainer !== undefined) {
    const uploads = section(tree, 'uploads') ?? {};
    if (!hasKey('uploads.exec')) warnings.push('BACKEND_CONTAINER is ignored: this build has no uploads.exec; set UPLOADS_DIR to a folder Ferry can read (the uploaded_images volume)');
    else if (unset(uploads.exec) && unset(uploads.path)) tree.uploads = { ...uploads, exec: `docker://${backendContainer}:${BACKEND_UPLOADS}` };
  }
  return warnings;
}
