import { tableKey } from '../../mask/rules.js';

/**
 * Tables and their columns from the CREATE TABLE statements pg_restore writes for a schema-only
 * restore: one column per line, indented four spaces, constraints introduced by CONSTRAINT.
 */
export function tableColumns(sql: string): Map<string, string[]> {
  const tables = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of sql.split('\n')) {
    if (current === undefined) {
      const m = /^CREATE (?:UNLOGGED |FOREIGN )?TABLE (.+) \($/.exec(line);
      if (m !== null) {
        current = [];
        tables.set(tableKey(m[1] as string), current);
      }
      continue;
    }
    if (line.startsWith(')')) {
      current = undefined;
      continue;
    }
    const column = /^ {4}("(?:[^"]|"")*"|[^\s"]+) /.exec(line);
    if (column === null || column[1] === 'CONSTRAINT') continue;
    const name = column[1] as string;
    current.push(name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name);
  }
  return tables;
}
