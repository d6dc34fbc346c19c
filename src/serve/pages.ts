import { html } from 'hono/html';
import type { HealthCheck } from '../health/index.js';
import type { BackupDetails } from '../ops/catalog.js';
import type { ListResult } from '../ops/list.js';
import { renderBackupInfo } from '../ops/backup-info.js';
import { formatBytes, formatDuration } from '../util/format.js';
import { FERRY_VERSION } from '../version.js';
import type { BackupDetail, CountChange, LocationHealth } from './data.js';
import type { VerifyJob } from './jobs.js';

/**
 * The dashboard's pages, built on the server with hono's `html` template, which escapes every value
 * it is given. No inline script or style anywhere: the Content-Security-Policy forbids both, and the
 * behaviour lives in /assets/dashboard.js.
 */
type Html = ReturnType<typeof html>;

export interface PageContext {
  /** The session's CSRF token, for forms; undefined without a session. */
  csrf: string | undefined;
  /** Whether this user may start a verify. */
  actions: boolean;
  now: Date;
}

const PAGE_SIZE = 50;

function layout(title: string, current: string, page: PageContext, body: Html): Html {
  const nav = (href: string, label: string) => html`<a href="${href}"${current === href ? html` aria-current="page"` : ''}>${label}</a>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Ferry</title>
<link rel="stylesheet" href="/assets/uPlot.min.css">
<link rel="stylesheet" href="/assets/dashboard.css">
${page.csrf === undefined ? '' : html`<meta name="ferry-csrf" content="${page.csrf}">`}
${current === '/trends' ? html`<script src="/assets/uPlot.min.js" defer></script>` : ''}
<script src="/assets/dashboard.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
<header><span class="brand">Ferry</span><nav aria-label="Sections">${nav('/', 'Overview')} ${nav('/backups', 'Backups')} ${nav('/trends', 'Trends')}</nav></header>
<main id="main">
<h1>${title}</h1>
${body}
</main>
<footer>ferry ${FERRY_VERSION} · read-only unless actions are enabled · <a href="/metrics">metrics</a></footer>
</body>
</html>`;
}

const ago = (time: Date | string, now: Date) => `${formatDuration(Math.max(0, (now.getTime() - new Date(time).getTime()) / 1000))} ago`;

function status(name: string): Html {
  return html`<span class="status status-${name}">${name}</span>`;
}

function checksTable(checks: HealthCheck[]): Html {
  return html`<table class="checks"><caption>Checks</caption><thead><tr><th scope="col">Check</th><th scope="col">State</th><th scope="col">Finding</th></tr></thead><tbody>
${checks.map((c) => html`<tr><th scope="row">${c.name}</th><td>${status(c.status)}</td><td>${c.message}${c.recommendation === undefined ? '' : html`<br><span class="hint">→ ${c.recommendation}</span>`}</td></tr>`)}
</tbody></table>`;
}

function storesOf(backup: BackupDetails): string {
  return backup.manifest === undefined ? 'unknown' : Object.keys(backup.manifest.stores).join(', ');
}

function verification(backup: BackupDetails, now: Date): Html {
  const v = backup.verification;
  if (v === undefined) return html`<span class="muted">never</span>`;
  return html`${v.ok ? html`<span class="status status-OK">whole</span>` : html`<span class="status status-CRITICAL">not whole</span>`} ${ago(v.checkedAt, now)}${v.oldScripts === true ? ' (old scripts: readable, no checksums)' : ''}`;
}

function encrypted(backup: BackupDetails): boolean {
  return backup.name.endsWith('.age') || backup.manifest?.encryption !== undefined;
}

export function overviewPage(page: PageContext, healths: LocationHealth[], listed: ListResult, next: { timer: string; at: Date } | undefined): Html {
  const newest = listed.backups[0];
  const sections = healths.map(({ location, result }) => {
    const f = result.figures;
    const anomalies = result.anomalies?.found ?? [];
    const leftovers = result.checks.find((c) => c.name === 'leftovers');
    return html`<section class="card" aria-labelledby="loc-${location}">
<h2 id="loc-${location}">${location === 'local' ? 'Backup directory' : 'Remote copy'} ${status(result.status)}</h2>
<p class="summary">${result.summary}</p>
<dl class="facts">
<dt>Location</dt><dd>${f?.location ?? 'unknown'}</dd>
<dt>Backups</dt><dd>${f?.backups ?? 'unknown'}</dd>
<dt>Newest</dt><dd>${f?.newest === undefined ? 'none' : html`<a href="/backups/${encodeURIComponent(f.newest.name)}">${f.newest.name}</a>, ${ago(f.newest.time, page.now)}, <span data-newest-size>${formatBytes(f.newest.size)}</span>, ${f.newest.verified ? 'verified' : 'not verified'}`}</dd>
${location === 'local' && newest !== undefined ? html`<dt>Stores</dt><dd>${storesOf(newest)}</dd><dt>Last verify</dt><dd>${verification(newest, page.now)}</dd>` : ''}
<dt>Free space</dt><dd>${f?.freeBytes === undefined ? 'not known' : formatBytes(f.freeBytes)}</dd>
${location === 'local' ? html`<dt>Leftovers</dt><dd>${leftovers === undefined ? 'none' : leftovers.message}</dd>` : ''}
${location === 'local' ? html`<dt>Next scheduled run</dt><dd>${next === undefined ? 'no systemd timer found' : html`${next.at.toISOString()} (${next.timer})`}</dd>` : ''}
</dl>
${anomalies.length === 0 ? '' : html`<div class="anomalies" role="note"><h3>Anomalies in ${result.anomalies?.backup ?? ''}</h3><ul>${anomalies.map((a) => html`<li class="anomaly">${a.store} ${a.object}: ${a.before} → ${a.after}${a.disappeared ? ' (gone)' : ''}</li>`)}</ul></div>`}
${checksTable(result.checks)}
</section>`;
  });
  return layout('Overview', '/', page, html`${sections}`);
}

export function backupsPage(page: PageContext, listed: ListResult, remote: Set<string> | undefined, pageNumber: number): Html {
  const pages = Math.max(1, Math.ceil(listed.backups.length / PAGE_SIZE));
  const current = Math.min(Math.max(1, pageNumber), pages);
  const shown = listed.backups.slice((current - 1) * PAGE_SIZE, current * PAGE_SIZE);
  const pager = pages === 1 ? '' : html`<nav class="pager" aria-label="Pages">
${current > 1 ? html`<a href="/backups?page=${current - 1}" rel="prev">Newer</a>` : ''}
<span>page ${current} of ${pages}</span>
${current < pages ? html`<a href="/backups?page=${current + 1}" rel="next">Older</a>` : ''}
</nav>`;
  const rows = shown.map((b) => html`<tr>
<th scope="row"><a href="/backups/${encodeURIComponent(b.name)}">${b.name}</a></th>
<td>${ago(b.time, page.now)}</td><td class="num">${formatBytes(b.size)}</td><td>${storesOf(b)}</td><td>${verification(b, page.now)}</td>
<td>${encrypted(b) ? 'yes' : 'no'}</td><td>${remote === undefined ? 'no remote' : remote.has(b.name) ? 'yes' : 'no'}</td>
</tr>`);
  return layout('Backups', '/backups', page, html`<p>${listed.backups.length} backups in ${listed.directory}, newest first.</p>
${pager}
<div class="scroll" tabindex="0" role="region" aria-label="Backups"><table class="backups"><caption>Backups, page ${current}</caption>
<thead><tr><th scope="col">Backup</th><th scope="col">Age</th><th scope="col">Size</th><th scope="col">Stores</th><th scope="col">Verified</th><th scope="col">Encrypted</th><th scope="col">Remote copy</th></tr></thead>
<tbody>${rows}</tbody></table></div>
${pager}`);
}

function change(c: CountChange): Html {
  if (c.previous === undefined) return html`<td class="num muted">—</td>`;
  const delta = c.count - c.previous;
  return html`<td class="num">${delta > 0 ? '+' : ''}${delta}</td>`;
}

const MAX_ENTRIES_SHOWN = 200;

export function detailPage(page: PageContext, detail: BackupDetail, job: VerifyJob | undefined): Html {
  const { inspected, details } = detail;
  const m = inspected.manifest;
  const decrypted = details.name.endsWith('.age') ? details.name.slice(0, -'.age'.length) : details.name;
  const info = renderBackupInfo(m, decrypted);
  // backup_info.txt's own instructions, the ones inside every archive, without their indent.
  const steps = info.slice(info.indexOf('Restore by hand')).split('\n').slice(1)
    .filter((line) => line.startsWith('  ')).map((line) => line.slice(2));
  // backup_info.txt is written inside the archive, before encryption: it cannot say how to decrypt.
  const byHand = (decrypted === details.name ? steps : [`age -d -i ~/.config/ferry/key.txt -o ${decrypted} ${details.name}`, ...steps]).join('\n');
  const ferryCommand = `ferry restore ${details.name}`;
  const stores = Object.entries(m.stores).map(([kind, store]) => {
    const rows = detail.changes.filter((c) => c.store === kind);
    return html`<section class="card" aria-labelledby="store-${kind}">
<h3 id="store-${kind}">${store.source}</h3>
<dl class="facts">
${store.serverVersion === undefined ? '' : html`<dt>Server</dt><dd>${store.serverVersion}</dd>`}
${store.toolVersion === undefined ? '' : html`<dt>Dumped with</dt><dd>${store.toolVersion}</dd>`}
<dt>Bytes</dt><dd>${formatBytes(store.bytes)}</dd><dt>Took</dt><dd>${formatDuration(store.durationSeconds)}</dd>
</dl>
${store.warnings.map((w) => html`<p class="warning">warning: ${w}</p>`)}
<div class="scroll" tabindex="0" role="region" aria-label="${kind} counts"><table class="counts"><caption>${kind} counts against ${detail.previous ?? 'no earlier backup'}</caption>
<thead><tr><th scope="col">Object</th><th scope="col">Count</th><th scope="col">Before</th><th scope="col">Change</th><th scope="col">Anomaly</th></tr></thead>
<tbody>${rows.map((c) => html`<tr${c.anomaly === undefined ? '' : html` class="anomaly" data-anomaly="${c.object}"`}>
<th scope="row">${c.object}</th><td class="num">${c.count}</td><td class="num">${c.previous ?? '—'}</td>${change(c)}
<td>${c.anomaly === undefined ? '' : html`<strong>anomaly</strong>: median of the backups before was ${c.anomaly.before}`}</td></tr>`)}
${detail.disappeared.filter((a) => a.store === kind).map((a) => html`<tr class="anomaly" data-anomaly="${a.object}"><th scope="row">${a.object}</th><td class="num">0</td><td class="num">${a.before}</td><td class="num">gone</td><td><strong>anomaly</strong>: disappeared</td></tr>`)}
</tbody></table></div>
</section>`;
  });
  const verifyPanel = page.actions && page.csrf !== undefined ? html`<section class="card" aria-labelledby="verify-h">
<h2 id="verify-h">Verify</h2>
<form method="post" action="/backups/${encodeURIComponent(details.name)}/verify" data-verify="${details.name}">
<input type="hidden" name="csrf" value="${page.csrf}">
<button type="submit">Verify now</button>
</form>
<p id="verify-status" role="status" aria-live="polite" data-job="${job?.id ?? ''}">${job === undefined ? '' : jobLine(job)}</p>
</section>` : '';
  return layout(details.name, '/backups', page, html`<dl class="facts">
<dt>Created</dt><dd>${m.createdAt} on ${m.host}, ${ago(m.createdAt, page.now)}</dd>
<dt>Size</dt><dd>${formatBytes(inspected.size)}</dd>
<dt>Took</dt><dd>${formatDuration(m.durationSeconds)}</dd>
<dt>Written by</dt><dd>ferry ${m.tool.version}, archive format ${m.formatVersion}${m.compression === undefined ? '' : `, ${m.compression.codec} level ${m.compression.level}`}</dd>
<dt>Encrypted</dt><dd>${m.encryption === undefined ? 'no' : 'yes (age)'}</dd>
<dt>Masked</dt><dd>${m.masked === undefined ? 'no' : 'yes'}</dd>
<dt>Verified</dt><dd id="verified">${verification(details, page.now)}</dd>
</dl>
${verifyPanel}
<h2>Contents</h2>
${stores}
<section class="card" aria-labelledby="restore-h">
<h2 id="restore-h">Restore</h2>
<h3>With Ferry</h3>
<div class="command"><pre tabindex="0"><code id="cmd-ferry">${ferryCommand}</code></pre><button type="button" data-copy="cmd-ferry">Copy</button></div>
<p class="hint">Add <code>--only ${Object.keys(m.stores).join(',')}</code> for part of it, <code>--to-db NAME</code> for another database, <code>--dry-run</code> to see the plan.</p>
<h3>By hand</h3>
<div class="command"><pre tabindex="0"><code id="cmd-hand">${byHand}</code></pre><button type="button" data-copy="cmd-hand">Copy</button></div>
</section>
<section class="card" aria-labelledby="entries-h">
<h2 id="entries-h">Checksums</h2>
${m.entries.length === 0 ? html`<p>The manifest lists no entries${m.encryption === undefined ? '' : ' (an encrypted archive: ferry inspect with its key shows them)'}.</p>` : html`<div class="scroll" tabindex="0" role="region" aria-label="Checksums"><table class="entries"><caption>${m.entries.length} entries${m.entries.length > MAX_ENTRIES_SHOWN ? `, the first ${MAX_ENTRIES_SHOWN} shown (ferry inspect --json lists all)` : ''}</caption>
<thead><tr><th scope="col">Entry</th><th scope="col">Size</th><th scope="col">sha256</th></tr></thead>
<tbody>${m.entries.slice(0, MAX_ENTRIES_SHOWN).map((e) => html`<tr><th scope="row">${e.path}</th><td class="num">${formatBytes(e.size)}</td><td><code class="hash">${e.sha256 ?? ''}</code></td></tr>`)}</tbody></table></div>`}
</section>`);
}

function jobLine(job: VerifyJob): string {
  if (job.state === 'running') return `verifying: ${job.progress.step}${job.progress.detail === null ? '' : `, ${job.progress.detail}`}`;
  if (job.state === 'failed') return `verify failed: ${job.error?.message ?? 'unknown error'}`;
  const report = job.reports?.[0];
  if (report === undefined) return 'verify finished';
  return report.ok ? `OK: whole, ${report.entries.length} entries checked` : `CRITICAL: not whole: ${report.findings.map((f) => f.problem).join('; ')}`;
}

export function trendsPage(page: PageContext, objects: string[]): Html {
  return layout('Trends', '/trends', page, html`<section class="card" aria-labelledby="size-h">
<h2 id="size-h">Archive size and backup duration</h2>
<figure><div class="chart" id="chart-size" data-chart="size" role="img" aria-label="Archive size over time"></div><figcaption>Archive size (MB) over time</figcaption></figure>
<figure><div class="chart" id="chart-duration" data-chart="duration" role="img" aria-label="Backup duration over time"></div><figcaption>Backup duration (seconds) over time</figcaption></figure>
</section>
<section class="card" aria-labelledby="counts-h">
<h2 id="counts-h">Counts per table and collection</h2>
<label for="object-pick">Table or collection</label>
<select id="object-pick" name="object">${objects.map((o) => html`<option value="${o}">${o}</option>`)}</select>
<figure><div class="chart" id="chart-counts" data-chart="counts" role="img" aria-label="Count of the chosen object over time, anomalies marked"></div><figcaption>Count over time; anomalies (as ferry health defines them) are marked in red</figcaption></figure>
<ul id="anomaly-list" aria-live="polite"></ul>
</section>
<noscript><p>The charts need JavaScript; the same figures are at <a href="/api/trends">/api/trends</a>.</p></noscript>`);
}

export function messagePage(page: PageContext, title: string, message: string): Html {
  return layout(title, '', page, html`<p>${message}</p>`);
}

export function loginPage(csrf: string, failed: boolean): Html {
  return layout('Sign in', '', { csrf: undefined, actions: false, now: new Date() }, html`<form method="post" action="/login" class="card">
${failed ? html`<p class="warning" role="alert">That password is not the one configured.</p>` : ''}
<input type="hidden" name="csrf" value="${csrf}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`);
}
