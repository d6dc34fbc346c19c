// Ferry dashboard behaviour: copy buttons, "verify now" with progress, and the trend charts (uPlot).
// Served by ferry serve as a file: the Content-Security-Policy allows no inline script.
'use strict';

(function () {
  const csrf = document.querySelector('meta[name="ferry-csrf"]')?.getAttribute('content') ?? '';

  for (const button of document.querySelectorAll('button[data-copy]')) {
    button.addEventListener('click', async () => {
      const source = document.getElementById(button.getAttribute('data-copy'));
      if (source === null) return;
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = 'Copied';
      } catch {
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = 'Selected: press Ctrl+C';
      }
      setTimeout(() => { button.textContent = 'Copy'; }, 2500);
    });
  }

  const statusLine = document.getElementById('verify-status');

  function describe(job) {
    if (job.state === 'running') {
      const p = job.progress;
      const bytes = p.doneBytes > 0 ? `, ${(p.doneBytes / 1048576).toFixed(1)} MB read` : '';
      return `verifying: ${p.step}${p.detail ? `, ${p.detail}` : ''}${bytes}`;
    }
    if (job.state === 'failed') return `verify failed: ${job.error ? job.error.message : 'unknown error'}`;
    const report = job.result && job.result.archives[0];
    if (!report) return 'verify finished';
    return report.ok ? `OK: whole, ${report.entries.length} entries checked`
      : `CRITICAL: not whole: ${report.findings.map((f) => f.problem).join('; ')}`;
  }

  async function follow(id) {
    for (;;) {
      const response = await fetch(`/api/jobs/${encodeURIComponent(id)}`, { headers: { accept: 'application/json' } });
      if (!response.ok) {
        statusLine.textContent = `cannot follow the verify (HTTP ${response.status})`;
        return;
      }
      const job = await response.json();
      statusLine.textContent = describe(job);
      statusLine.dataset.state = job.state;
      if (job.state !== 'running') {
        const report = job.result && job.result.archives[0];
        statusLine.className = report && report.ok ? 'status-line ok' : 'status-line critical';
        const verified = document.getElementById('verified');
        if (verified !== null && report) verified.textContent = report.ok ? 'whole, just now' : 'NOT WHOLE, just now';
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
  }

  const verifyForm = document.querySelector('form[data-verify]');
  if (verifyForm !== null && statusLine !== null) {
    verifyForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const button = verifyForm.querySelector('button');
      button.disabled = true;
      statusLine.textContent = 'starting verify…';
      try {
        const response = await fetch(verifyForm.getAttribute('action'), { method: 'POST', headers: { 'x-ferry-csrf': csrf, accept: 'application/json' } });
        if (response.status !== 202 && response.status !== 409) {
          statusLine.textContent = `verify refused (HTTP ${response.status}): ${await response.text()}`;
          return;
        }
        const job = await response.json();
        if (response.status === 409) statusLine.textContent = `another verify is running (${job.backup})`;
        else await follow(job.id);
      } finally {
        button.disabled = false;
      }
    });
    if (statusLine.dataset.job) follow(statusLine.dataset.job);
  }

  const charts = document.querySelectorAll('[data-chart]');
  if (charts.length > 0 && typeof window.uPlot === 'function') drawTrends();

  async function drawTrends() {
    const response = await fetch('/api/trends', { headers: { accept: 'application/json' } });
    const { backups } = await response.json();
    const times = backups.map((b) => b.time);
    const anomalyAt = (i) => backups[i].anomalies.length > 0;
    const plots = [];
    const width = (el) => Math.max(280, el.clientWidth);
    const marks = { label: 'anomaly', stroke: '#a40e26', fill: '#a40e26', paths: () => null, points: { show: true, size: 11, fill: '#a40e26', stroke: '#a40e26' } };

    function chart(el, label, values, anomalies, unit) {
      el.replaceChildren();
      const series = [{}, { label, stroke: '#0b57b0', width: 2, points: { show: true, size: 5 } }, marks];
      const plot = new window.uPlot({
        width: width(el), height: 240, series,
        axes: [{}, { label: unit, size: 70 }],
        scales: { x: { time: true } },
      }, [times, values, anomalies], el);
      el.dataset.points = String(values.filter((v) => v !== null).length);
      el.dataset.anomalies = String(anomalies.filter((v) => v !== null).length);
      plots.push([plot, el]);
      return plot;
    }

    const size = document.getElementById('chart-size');
    if (size) chart(size, 'archive size', backups.map((b) => b.size / 1048576), backups.map((b, i) => (anomalyAt(i) ? b.size / 1048576 : null)), 'MB');
    const duration = document.getElementById('chart-duration');
    if (duration) chart(duration, 'duration', backups.map((b) => b.durationSeconds), backups.map(() => null), 'seconds');

    const pick = document.getElementById('object-pick');
    const counts = document.getElementById('chart-counts');
    const list = document.getElementById('anomaly-list');
    function drawCounts() {
      if (!pick || !counts) return;
      const [store, ...rest] = pick.value.split(' ');
      const object = rest.join(' ');
      const values = backups.map((b) => (b.counts[store] && object in b.counts[store] ? b.counts[store][object] : null));
      const found = backups.map((b) => b.anomalies.find((a) => a.store === store && a.object === object));
      for (let i = plots.length - 1; i >= 0; i--) {
        if (plots[i][1] === counts) {
          plots[i][0].destroy();
          plots.splice(i, 1);
        }
      }
      chart(counts, object, values, found.map((a, i) => (a ? values[i] : null)), 'count');
      list.replaceChildren(...found.flatMap((a, i) => (a ? [Object.assign(document.createElement('li'), {
        textContent: `${backups[i].name}: ${store} ${object} ${a.before} → ${a.after} (anomaly)`,
      })] : [])));
    }
    if (pick) {
      // The first object with an anomaly is the one worth seeing first.
      const first = backups.flatMap((b) => b.anomalies)[0];
      if (first) pick.value = `${first.store} ${first.object}`;
      pick.addEventListener('change', drawCounts);
      drawCounts();
    }
    window.addEventListener('resize', () => {
      for (const [plot, el] of plots) plot.setSize({ width: width(el), height: 240 });
    });
  }
})();
