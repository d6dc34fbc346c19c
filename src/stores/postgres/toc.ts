/** One line of `pg_restore --list`: what an archive entry is and which object it belongs to. */
export interface TocEntry {
  line: string;
  /** "TABLE", "TABLE DATA", "SEQUENCE SET", "FK CONSTRAINT", … */
  desc: string;
  /** "-" for objects without a schema. */
  schema: string;
  /** The object's name; for constraints, defaults and triggers "<table> <name>". */
  tag: string;
}

// Longest first, so "TABLE DATA" is not read as "TABLE" with the tag "DATA …".
const DESCRIPTIONS = [
  'SEQUENCE OWNED BY', 'MATERIALIZED VIEW DATA', 'MATERIALIZED VIEW', 'FK CONSTRAINT', 'TABLE ATTACH', 'INDEX ATTACH',
  'SEQUENCE SET', 'TABLE DATA', 'DEFAULT ACL', 'TEXT SEARCH CONFIGURATION', 'TEXT SEARCH DICTIONARY', 'FOREIGN TABLE',
  'EVENT TRIGGER', 'ROW SECURITY', 'BLOB DATA', 'LARGE OBJECT', 'CONSTRAINT', 'SEQUENCE', 'DEFAULT', 'TABLE', 'INDEX',
  'TRIGGER', 'SCHEMA', 'EXTENSION', 'FUNCTION', 'PROCEDURE', 'AGGREGATE', 'DOMAIN', 'TYPE', 'VIEW', 'COMMENT', 'ACL',
  'POLICY', 'RULE', 'COLLATION', 'PUBLICATION', 'STATISTICS', 'ENCODING', 'STDSTRINGS', 'SEARCHPATH', 'DATABASE',
];

export function parseToc(listing: string): TocEntry[] {
  return listing.split('\n').flatMap((line) => parseTocLine(line) ?? []);
}

/** One entry line of `pg_restore --list`; undefined for comment lines and entries of kinds not known here. */
export function parseTocLine(line: string): TocEntry | undefined {
  const head = /^-?\d+; \d+ \d+ /.exec(line);
  if (head === null) return undefined;
  const rest = line.slice(head[0].length);
  const desc = DESCRIPTIONS.find((d) => rest.startsWith(`${d} `));
  if (desc === undefined) return undefined;
  const words = rest.slice(desc.length + 1).split(' ');
  // schema, tag words…, owner (the owner is absent for a few kinds; the tag keeps what is left).
  const schema = words[0] ?? '-';
  const tag = words.length > 2 ? words.slice(1, -1).join(' ') : (words[1] ?? '');
  return { line, desc, schema, tag };
}

/** The schemas the dump puts objects in (pg_catalog and "-" aside), and which of them it creates itself. */
export function dumpedSchemas(entries: TocEntry[]): { all: string[]; created: string[] } {
  // pg_dump never writes CREATE SCHEMA public (every database has one); its entry carries only a comment or grants.
  const created = entries.filter((e) => e.desc === 'SCHEMA' && e.tag !== 'public').map((e) => e.tag);
  const used = entries.filter((e) => e.schema !== '-' && e.schema !== 'pg_catalog').map((e) => e.schema);
  return { all: [...new Set([...created, ...used])].sort(), created };
}

function unquote(name: string): string {
  return name.split('.').map((part) => (part.startsWith('"') ? part.slice(1, -1).replace(/""/g, '"') : part)).join('.');
}

/**
 * The sequences each table uses, from the dump's pre-data SQL: column defaults (nextval), OWNED BY
 * and identity columns. Names are "schema.name", unquoted.
 */
export function sequencesOfTables(preDataSql: string): Map<string, Set<string>> {
  const result = new Map<string, Set<string>>();
  const add = (table: string, sequence: string) => {
    const key = unquote(table);
    const set = result.get(key) ?? new Set<string>();
    set.add(unquote(sequence));
    result.set(key, set);
  };
  const name = String.raw`((?:"(?:[^"]|"")+"|[\w$]+)\.(?:"(?:[^"]|"")+"|[\w$]+))`;
  const createTable = new RegExp(String.raw`^CREATE (?:UNLOGGED )?TABLE ${name} \(([\s\S]*?)^\)`, 'gm');
  for (const m of preDataSql.matchAll(createTable)) {
    for (const seq of (m[2] ?? '').matchAll(/nextval\('([^']+)'::regclass\)/g)) add(m[1] as string, seq[1] as string);
  }
  const setDefault = new RegExp(String.raw`^ALTER TABLE (?:ONLY )?${name} ALTER COLUMN .*? SET DEFAULT nextval\('([^']+)'::regclass\)`, 'gm');
  for (const m of preDataSql.matchAll(setDefault)) add(m[1] as string, m[2] as string);
  const ownedBy = new RegExp(String.raw`^ALTER SEQUENCE ${name} OWNED BY ${name}\.`, 'gm');
  for (const m of preDataSql.matchAll(ownedBy)) add(m[2] as string, m[1] as string);
  const identity = new RegExp(String.raw`^ALTER TABLE (?:ONLY )?${name} ALTER COLUMN [\s\S]*? AS IDENTITY \(\s*SEQUENCE NAME ${name}`, 'gm');
  for (const m of preDataSql.matchAll(identity)) add(m[1] as string, m[2] as string);
  return result;
}

/** "schema.index" → "schema.table", from the dump's post-data SQL (an index lives in its table's schema). */
export function indexTables(postDataSql: string): Map<string, string> {
  const result = new Map<string, string>();
  const re = /^CREATE (?:UNIQUE )?INDEX ((?:"(?:[^"]|"")+"|[\w$]+)) ON (?:ONLY )?((?:"(?:[^"]|"")+"|[\w$]+)\.(?:"(?:[^"]|"")+"|[\w$]+))/gm;
  for (const m of postDataSql.matchAll(re)) {
    const table = unquote(m[2] as string);
    result.set(`${table.slice(0, table.indexOf('.'))}.${unquote(m[1] as string)}`, table);
  }
  return result;
}

export interface PartialSelection {
  /** The -L list for pg_restore, in the dump's own (dependency) order. */
  list: string;
  /** Objects of the selected tables that are not restored, for the report. */
  left: string[];
}

/**
 * The entries of a --tables restore. A table the target has gets its rows and its sequences'
 * values; one it lacks also gets its definition, sequences, defaults, constraints and indexes.
 * Triggers and foreign keys of a missing table are left out: they name functions and tables that
 * were not selected.
 */
export function partialSelection(entries: TocEntry[], tables: string[], existing: Set<string>, preDataSql: string, postDataSql: string): PartialSelection {
  const sequences = sequencesOfTables(preDataSql);
  const indexes = indexTables(postDataSql);
  const wanted = new Set<string>();
  const left: string[] = [];
  const keyOf = (e: TocEntry) => `${e.desc}|${e.schema}.${e.tag}`;
  for (const table of tables.map(unquote)) {
    const [schema, name] = [table.slice(0, table.indexOf('.')), table.slice(table.indexOf('.') + 1)];
    const seqs = [...(sequences.get(table) ?? [])];
    wanted.add(`TABLE DATA|${table}`);
    for (const seq of seqs) wanted.add(`SEQUENCE SET|${seq}`);
    if (existing.has(table)) continue;
    wanted.add(`TABLE|${table}`);
    for (const seq of seqs) {
      wanted.add(`SEQUENCE|${seq}`);
      wanted.add(`SEQUENCE OWNED BY|${seq}`);
    }
    for (const e of entries) {
      if (e.schema !== schema) continue;
      if ((e.desc === 'DEFAULT' || e.desc === 'CONSTRAINT') && e.tag.startsWith(`${name} `)) wanted.add(keyOf(e));
      if (e.desc === 'INDEX' && indexes.get(`${e.schema}.${e.tag}`) === table) wanted.add(keyOf(e));
      if ((e.desc === 'TRIGGER' || e.desc === 'FK CONSTRAINT') && e.tag.startsWith(`${name} `)) left.push(`${e.desc.toLowerCase()} ${e.tag.slice(name.length + 1)} of ${table}`);
    }
  }
  const list = entries.filter((e) => wanted.has(keyOf(e))).map((e) => e.line).join('\n');
  return { list: `${list}\n`, left };
}

export function unquoteName(name: string): string {
  return unquote(name);
}
