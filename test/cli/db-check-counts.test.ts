import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';

describe('ferry db check counts (issue 24 item 11)', () => {
  it('counts small tables exactly, estimates those of 100,000 rows or more, and says which', async () => {
    const db = await createDatabase(uniqueName('counts'));
    await query(db, `CREATE TABLE recipes (id int); INSERT INTO recipes SELECT generate_series(1, 16044);
      CREATE TABLE events (id int); INSERT INTO events SELECT generate_series(1, 150000);
      ANALYZE;`);
    // After the statistics were taken: an estimate would not see these rows, an exact count does.
    await query(db, 'INSERT INTO recipes SELECT generate_series(1, 7); INSERT INTO events SELECT generate_series(1, 7)');
    const result = await ferry(['db', 'check', '--wait', '0'], { DATABASE_URL: pgUrl(db) });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^\s+public\.recipes\s+16051\s*$/m);
    expect(result.stdout).toMatch(/^\s+public\.events\s+~1\d{5}\s*$/m);
    expect(result.stdout).toMatch(/~ marks the planner's estimate: tables of 100,000 rows or more are not counted; the others are exact/);

    const json = await ferry(['db', 'check', '--wait', '0', '--json'], { DATABASE_URL: pgUrl(db) });
    const store = (JSON.parse(json.stdout) as { stores: Array<{ counts: Array<{ object: string; actual: number }>; estimated: string[] }> }).stores[0];
    expect(store?.counts).toContainEqual({ object: 'public.recipes', expected: null, actual: 16051 });
    expect(store?.counts.map((c) => c.object)).toContain('public.events');
    expect(store?.estimated).toEqual(['public.events']);
  });
});
