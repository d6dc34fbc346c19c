/**
 * Table and collection names as a user writes them in the configuration, and as the manifests
 * record them (pg_dump's `public."Mixed Case"`), so that the two can be compared.
 */

// PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes: a longer name can never match.
const PG_IDENTIFIER_BYTES = 63;
// MongoDB's limit on a namespace (database.collection) is 255 bytes.
const MONGO_NAMESPACE_BYTES = 255;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * A dotted PostgreSQL name cut into its parts, quotes removed ("" is one quote); undefined when a
 * quote is left open or a quoted part runs into more text.
 */
export function postgresNameParts(name: string): string[] | undefined {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    let part = '';
    if (name[i] === '"') {
      let j = i + 1;
      for (;; j++) {
        if (j >= name.length) return undefined;
        if (name[j] === '"') {
          if (name[j + 1] !== '"') break;
          part += '"';
          j++;
        } else part += name[j];
      }
      i = j + 1;
      if (i < name.length && name[i] !== '.') return undefined;
    } else {
      const end = name.indexOf('.', i);
      part = name.slice(i, end === -1 ? name.length : end);
      if (part.includes('"')) return undefined;
      i = end === -1 ? name.length : end;
    }
    parts.push(part);
    if (i >= name.length) return parts;
    i++;
  }
}

/** What is wrong with a configured table name (`table` or `schema.table`, parts optionally "quoted"). */
export function postgresTableNameProblem(name: string): string | undefined {
  const parts = postgresNameParts(name);
  if (parts === undefined) return 'a double quote is not closed, or is followed by more than a dot';
  if (parts.length > 2) return 'expected table or schema.table (quote a part that holds a dot: "my.table")';
  for (const part of parts) {
    if (part === '') return 'expected table or schema.table, with no empty part';
    if (part.trim() !== part) return 'a name part begins or ends with a space';
    if (CONTROL.test(part)) return 'a name holds a control character';
    if (Buffer.byteLength(part) > PG_IDENTIFIER_BYTES) return `a name part is longer than PostgreSQL's ${PG_IDENTIFIER_BYTES} bytes`;
  }
  return undefined;
}

/** What is wrong with a configured MongoDB collection name. */
export function mongoCollectionNameProblem(name: string): string | undefined {
  if (name === '') return 'expected a collection name';
  if (name.trim() !== name) return 'the name begins or ends with a space';
  if (name.includes('$')) return 'a collection name cannot hold $';
  if (CONTROL.test(name)) return 'a name holds a control character';
  if (Buffer.byteLength(name) > MONGO_NAMESPACE_BYTES) return `longer than MongoDB's ${MONGO_NAMESPACE_BYTES} bytes`;
  return undefined;
}

/**
 * Whether a configured name means a table the manifest records: `schema.table` names that table,
 * a bare `table` that table in any schema (as postgres.required_tables reads it).
 */
export function postgresNameMatches(configured: string, recorded: string): boolean {
  const mine = postgresNameParts(configured);
  const theirs = postgresNameParts(recorded);
  if (mine === undefined || theirs === undefined) return configured === recorded;
  if (mine.length === 1) return theirs.at(-1) === mine[0];
  return mine.length === theirs.length && mine.every((part, i) => part === theirs[i]);
}
