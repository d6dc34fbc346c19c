import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flipByteInEntry } from '../support/archive-edit.js';
import { ferry } from '../support/cli.js';
import { missing } from '../support/needs.js';
import { createDatabase, pgUrl, query, uniqueName } from '../support/pg.js';
import { startServe, type RunningServe } from '../support/serve.js';
import { tempDir } from '../support/tmp.js';

/**
 * ferry serve in a real headless Chromium, over real backups of the suite's PostgreSQL: what a user
 * sees on each page, axe-core's verdict on it, and no Content-Security-Policy violation. Screenshots
 * go to a temporary folder each run, and to docs/dashboard/ with FERRY_UPDATE_SCREENSHOTS=1.
 */
const CHROMIUM = '/usr/bin/chromium';
const DOCS_SHOTS = fileURLToPath(new URL('../../docs/dashboard/', import.meta.url));
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const hasChromium = spawnSync(CHROMIUM, ['--version']).status === 0;

let work: string;
let dir: string;
let env: Record<string, string>;
let serve: RunningServe;
let browser: BrowserContext;
let page: Page;
let shots: string;
let names: string[];

async function screenshot(name: string): Promise<void> {
  const file = join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (process.env.FERRY_UPDATE_SCREENSHOTS === '1') {
    mkdirSync(DOCS_SHOTS, { recursive: true });
    copyFileSync(file, join(DOCS_SHOTS, `${name}.png`));
  }
}

/** axe-core run in the page (evaluated through the DevTools protocol, which the page's CSP does not govern). */
async function accessibilityProblems(): Promise<string[]> {
  await page.evaluate(AXE);
  type Violation = { id: string; impact: string | null; nodes: Array<{ target: unknown }> };
  const violations = await page.evaluate('axe.run().then((result) => result.violations)') as Violation[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}) at ${JSON.stringify(v.nodes.map((n) => n.target))}`);
}

const skip = missing('chromium (Debian package chromium)', hasChromium);

describe.skipIf(skip)('ferry serve in a browser', () => {
  beforeAll(async () => {
    work = await tempDir();
    shots = join(work, 'screenshots');
    mkdirSync(shots);
    const db = await createDatabase(uniqueName('dash'));
    await query(db, "CREATE TABLE recipes (id int PRIMARY KEY, title text); INSERT INTO recipes SELECT i, 'recette ' || i FROM generate_series(1, 3000) i; CREATE TABLE tags (id int); INSERT INTO tags SELECT generate_series(1, 50);");
    dir = join(work, 'backups');
    const config = join(work, 'ferry.config.yaml');
    writeFileSync(config, 'serve:\n  allow_actions: true\n');
    env = { DATABASE_URL: pgUrl(db), BACKUP_DIRECTORY: dir };
    for (const sql of ['', 'DELETE FROM recipes WHERE id > 120']) {
      if (sql !== '') {
        await new Promise((resolve) => setTimeout(resolve, 1100));
        await query(db, sql);
      }
      const made = await ferry(['--config', config, 'backup'], env);
      expect(made.code, made.stderr).toBe(0);
    }
    names = readdirSync(dir).filter((n) => /^backup_\d{8}_\d{6}\.tar\.gz$/.test(n)).sort().reverse();
    serve = await startServe(['--config', config], env);
    browser = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 900 },
    });
    page = browser.pages()[0] ?? await browser.newPage();
    // Registered through the DevTools protocol, before any of the page's own script.
    await browser.addInitScript({ content: `document.addEventListener('securitypolicyviolation', (event) => {
      const seen = JSON.parse(sessionStorage.getItem('csp') ?? '[]');
      sessionStorage.setItem('csp', JSON.stringify([...seen, location.pathname + ': ' + event.violatedDirective + ' ' + event.blockedURI]));
    });` });
    // The printed address signs the browser in, then drops the token from the address bar.
    await page.goto(`${serve.base}?token=${serve.token}`);
    expect(new URL(page.url()).search).toBe('');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
  });

  it('overview: the newest backup with its size and state, the anomaly named', async () => {
    const listed = JSON.parse((await ferry(['list', '--json'], env)).stdout) as { backups: Array<{ name: string; size: number }> };
    const newest = listed.backups[0]!;
    await page.goto(serve.base);
    const local = page.locator('section[aria-labelledby="loc-local"]');
    await expect.poll(() => local.locator('h2 .status').textContent()).toBe('WARNING');
    expect(await local.locator('dd', { hasText: newest.name }).textContent()).toContain('ago');
    const { formatBytes } = await import('../../src/util/format.js');
    expect(await local.locator('[data-newest-size]').textContent()).toBe(formatBytes(newest.size));
    expect(await local.locator('.anomalies li').allTextContents()).toEqual(['postgres public.recipes: 3000 → 120']);
    expect(await accessibilityProblems()).toEqual([]);
    await screenshot('overview');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot('overview-phone');
    await page.setViewportSize({ width: 1200, height: 900 });
  });

  it('backups: newest first, each with its verification and stores', async () => {
    await page.goto(`${serve.base}backups`);
    const rows = page.locator('table.backups tbody tr');
    expect(await rows.locator('th').allTextContents()).toEqual(names);
    expect(await rows.first().locator('td').nth(2).textContent()).toBe('postgres');
    expect(await rows.first().locator('td').nth(3).textContent()).toMatch(/^whole .* ago$/);
    expect(await accessibilityProblems()).toEqual([]);
    await screenshot('backups');
  });

  it('detail: the shrunken table highlighted, and the restore command shown is one that works', async () => {
    await page.goto(`${serve.base}backups/${names[0]}`);
    const anomalies = page.locator('tr.anomaly');
    expect(await anomalies.count()).toBe(1);
    expect(await anomalies.getAttribute('data-anomaly')).toBe('public.recipes');
    expect(await anomalies.locator('td').allTextContents()).toEqual(['120', '3000', '-2880', 'anomaly: median of the backups before was 3000']);
    expect(await page.locator('tr:not(.anomaly)', { has: page.locator('th', { hasText: 'public.tags' }) }).locator('td').nth(2).textContent()).toBe('0');
    expect(await accessibilityProblems()).toEqual([]);
    await screenshot('detail');

    const command = (await page.locator('#cmd-ferry').textContent()) ?? '';
    expect(command).toBe(`ferry restore ${names[0]}`);
    // Run as shown, from a development machine's settings: another database, no terminal (--yes).
    const target = uniqueName('dash_dev');
    const restored = await ferry([...command.split(' ').slice(1), '--yes'], { DATABASE_URL: pgUrl(target), BACKUP_DIRECTORY: dir });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await query(target, 'SELECT count(*)::int AS n FROM recipes')).toEqual([{ n: 120 }]);
    expect(await page.locator('#cmd-hand').textContent()).toContain(`tar -xzf ${names[0]} -C restore`);
  });

  it('trends: size and duration charts, the shrunken table picked first with its anomaly marked', async () => {
    await page.goto(`${serve.base}trends`);
    const counts = page.locator('#chart-counts');
    await counts.locator('canvas').waitFor();
    expect(await page.locator('#object-pick').inputValue()).toBe('postgres public.recipes');
    expect(await counts.getAttribute('data-points')).toBe('2');
    expect(await counts.getAttribute('data-anomalies')).toBe('1');
    expect(await page.locator('#anomaly-list li').allTextContents()).toEqual([`${names[0]}: postgres public.recipes 3000 → 120 (anomaly)`]);
    expect(await page.locator('#chart-size').getAttribute('data-points')).toBe('2');
    await page.selectOption('#object-pick', 'postgres public.tags');
    await expect.poll(() => counts.getAttribute('data-anomalies')).toBe('0');
    expect(await page.locator('#anomaly-list li').count()).toBe(0);
    await page.selectOption('#object-pick', 'postgres public.recipes');
    await expect.poll(() => counts.getAttribute('data-anomalies')).toBe('1');
    expect(await accessibilityProblems()).toEqual([]);
    await screenshot('trends');
  });

  it('a flipped byte, then "verify now": CRITICAL on the page and on the overview', async () => {
    flipByteInEntry(join(dir, names[0]!), 'postgresql/database.sql');

    await page.goto(`${serve.base}backups/${names[0]}`);
    await page.getByRole('button', { name: 'Verify now' }).click();
    const status = page.locator('#verify-status');
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 30_000 }).toBe('done');
    expect(await status.textContent()).toMatch(/^CRITICAL: not whole: entry postgresql\/database\.sql does not match its checksum/);
    await screenshot('verify-critical');
    await page.goto(serve.base);
    expect(await page.locator('section[aria-labelledby="loc-local"] h2 .status').textContent()).toBe('CRITICAL');
    expect(await page.locator('section[aria-labelledby="loc-local"] .summary').textContent()).toMatch(/^FERRY CRITICAL - /);
  });

  it('no page broke its Content-Security-Policy', async () => {
    const violations = () => page.evaluate("sessionStorage.getItem('csp')");
    expect(await violations()).toBeNull();
    // The instrument itself: an inline style is what the policy forbids, and it is caught.
    await page.evaluate("document.body.setAttribute('style', 'color: red')");
    await expect.poll(violations).toMatch(/style-src-attr/);
  });
});
