import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { SMTPServer } from 'smtp-server';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferry } from '../support/cli.js';
import { backedUpDatabase } from '../support/backed-up.js';
import { pgUrl } from '../support/pg.js';
import { parsePrometheusText } from '../support/prometheus.js';

const RULES = new URL('../../docs/alerts/ferry.rules.yml', import.meta.url).pathname;

function promtoolOr(context: { skip: (note: string) => void }): boolean {
  if (spawnSync('promtool', ['--version']).status === 0) return true;
  // CI installs it (.ci/run); only a developer's machine may lack it.
  if (process.env.CI !== undefined) throw new Error('promtool is missing in CI (Debian package prometheus)');
  context.skip('promtool is not installed (Debian package prometheus)');
  return false;
}

/**
 * Each snapshot of the metrics file becomes 15 minutes of promtool input series (the health timer's
 * period), one sample a minute as node_exporter serves the file while it stays; absent samples are `_`.
 */
function seriesOf(snapshots: Array<Map<string, number>>): Array<{ series: string; values: string }> {
  const keys = [...new Set(snapshots.flatMap((s) => [...s.keys()]))].sort();
  return keys.map((key) => {
    const withInstance = key.replace('{', '{instance="db1:9100",job="node",');
    return { series: withInstance, values: snapshots.map((s) => (s.has(key) ? `${s.get(key)}+0x14` : '_x14')).join(' ') };
  });
}

/** Runs promtool's rule tests on these snapshots of the metrics file: every expected alert, at its time. */
function expectRuleTests(work: string, name: string, snapshots: Array<Map<string, number>>, alertTests: unknown[]): void {
  const file = join(work, name);
  // JSON is YAML: promtool reads it as is.
  writeFileSync(file, JSON.stringify({
    rule_files: [RULES],
    evaluation_interval: '1m',
    tests: [{ interval: '1m', input_series: seriesOf(snapshots), alert_rule_test: alertTests }],
  }, null, 2));
  const result = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
  expect(result.status, result.stdout + result.stderr).toBe(0);
}

describe('backup and health share one metrics file', () => {
  it('a failed backup followed by health runs keeps FerryBackupFailed firing until a backup succeeds (promtool test rules)', async (context) => {
    if (!promtoolOr(context)) return;
    const { env, work } = await backedUpDatabase('mm', 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 300);');
    const metrics = join(work, 'ferry.prom');
    const snapshots: Array<Map<string, number>> = [];
    const step = async (args: string[], extra: Record<string, string> = {}) => {
      await ferry([...args, '--metrics-file', metrics], { ...env, ...extra });
      snapshots.push(parsePrometheusText(readFileSync(metrics, 'utf8')));
    };
    await step(['backup']);
    await step(['backup'], { DATABASE_URL: pgUrl('no_such_database') });
    for (let i = 0; i < 3; i++) await step(['health']);
    await step(['backup']);
    await step(['health']);

    // The file holds both commands' families after every run.
    const afterHealth = snapshots[2] as Map<string, number>;
    expect(afterHealth.get('ferry_backup_last_run_success{location="local"}')).toBe(0);
    expect(afterHealth.get('ferry_health_status{location="local"}')).toBeTypeOf('number');
    expect(snapshots[6]?.get('ferry_backup_last_run_success{location="local"}')).toBe(1);

    const firing = [{
      exp_labels: { severity: 'critical', instance: 'db1:9100', job: 'node', location: 'local' },
      exp_annotations: { summary: 'The last ferry backup run failed on db1:9100', description: 'Run ferry backup by hand to see the error; nothing was pruned.' },
    }];
    expectRuleTests(work, 'ferry.rules.test.yml', snapshots, [
      { eval_time: '5m', alertname: 'FerryBackupFailed', exp_alerts: [] },
      { eval_time: '20m', alertname: 'FerryBackupFailed', exp_alerts: firing },
      { eval_time: '50m', alertname: 'FerryBackupFailed', exp_alerts: firing },
      { eval_time: '70m', alertname: 'FerryBackupFailed', exp_alerts: firing },
      { eval_time: '80m', alertname: 'FerryBackupFailed', exp_alerts: [] },
      { eval_time: '95m', alertname: 'FerryBackupFailed', exp_alerts: [] },
    ]);
  });

  it('a notification that cannot be sent is counted per channel, even from a failed backup and a failed notify test, and FerryNotificationFailed fires until the channel works (promtool)', async (context) => {
    if (!promtoolOr(context)) return;
    const { env, work } = await backedUpDatabase('nm', 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 300);');
    let status = 500;
    const web = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(status).end());
    });
    const webPort = await new Promise<number>((r) => web.listen(0, '127.0.0.1', () => r((web.address() as { port: number }).port)));
    const smtp = new SMTPServer({
      disabledCommands: ['STARTTLS'], allowInsecureAuth: true, logger: false,
      onAuth(auth, _session, callback) {
        if (auth.password === 'right') callback(null, { user: auth.username });
        else callback(new Error('Invalid username or password'));
      },
      onData(stream, _session, callback) {
        stream.resume();
        stream.on('end', () => callback());
      },
    });
    const smtpPort = await new Promise<number>((r) => smtp.listen(0, '127.0.0.1', () => r((smtp.server.address() as { port: number }).port)));
    try {
      const config = join(work, 'ferry.config.yaml');
      const hook = `http://127.0.0.1:${webPort}/hook`;
      writeFileSync(config, [
        'notify:', '  timeout_seconds: 5', `  on_failure: { webhook: "${hook}" }`, `  on_success: { webhook: "${hook}" }`,
        '  smtp:', '    host: 127.0.0.1', `    port: ${smtpPort}`, '    security: none', '    user: ferry', '    password_env: SMTP_TEST_PASSWORD',
        '    from: ferry@grimoire.example', '    to: [ops@grimoire.example]', '',
      ].join('\n'));
      const metrics = join(work, 'ferry.prom');
      const snapshots: Array<Map<string, number>> = [];
      const step = async (args: string[], extra: Record<string, string> = {}) => {
        const result = await ferry(['--config', config, ...args, '--metrics-file', metrics], { ...env, SMTP_TEST_PASSWORD: 'wrong', ...extra });
        const text = readFileSync(metrics, 'utf8');
        const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
        expect(lint.status, lint.stdout + lint.stderr + text).toBe(0);
        snapshots.push(parsePrometheusText(text));
        return result;
      };
      const failures = (channel: string) => snapshots.at(-1)?.get(`ferry_notification_failures_total{channel="${channel}"}`);
      const lastSuccess = (channel: string) => snapshots.at(-1)?.get(`ferry_notification_last_success{channel="${channel}"}`);

      const backedUp = await step(['backup']);
      expect(backedUp.code, backedUp.stderr).toBe(0);
      expect(backedUp.stderr).toMatch(/notification webhook answered HTTP 500; the run's outcome is unchanged/);
      expect([failures('webhook'), lastSuccess('webhook'), failures('smtp')]).toEqual([1, 0, undefined]);
      await step(['health']);
      expect([failures('webhook'), lastSuccess('webhook')]).toEqual([1, 0]);
      expect(snapshots.at(-1)?.get('ferry_health_status{location="local"}')).toBe(0);

      // The failure path: the backup fails, and so do both notifiers telling of it.
      const failed = await step(['backup'], { DATABASE_URL: pgUrl('no_such_database') });
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/notification e-mail to 127\.0\.0\.1 failed: 535/);
      expect([failures('webhook'), failures('smtp'), lastSuccess('smtp')]).toEqual([2, 1, 0]);
      expect(snapshots.at(-1)?.get('ferry_backup_last_run_success{location="local"}')).toBe(0);

      // NOTIFY_FAILED: notify test itself exits 1, after counting (both webhooks and the e-mail).
      const test = await step(['notify', 'test']);
      expect(test.code).toBe(1);
      expect(test.stderr).toMatch(/3 of 3 notifier\(s\) failed/);
      expect([failures('webhook'), failures('smtp')]).toEqual([4, 2]);

      status = 204;
      const fixed = await step(['notify', 'test'], { SMTP_TEST_PASSWORD: 'right' });
      expect(fixed.code, fixed.stderr).toBe(0);
      expect([failures('webhook'), failures('smtp'), lastSuccess('webhook'), lastSuccess('smtp')]).toEqual([4, 2, 1, 1]);
      expect(snapshots.at(-1)?.get('ferry_backup_last_run_success{location="local"}')).toBe(0);

      const alert = (channel: string) => ({
        exp_labels: { severity: 'warning', instance: 'db1:9100', job: 'node', channel },
        exp_annotations: {
          summary: `Ferry could not send its last ${channel} notification on db1:9100`,
          description: 'Backup failures may reach no one. The backup or health log says why; fix notify: and run ferry notify test --metrics-file <the same file>, which clears this alert once the channel works.',
        },
      });
      expectRuleTests(work, 'notify.rules.test.yml', snapshots, [
        { eval_time: '5m', alertname: 'FerryNotificationFailed', exp_alerts: [alert('webhook')] },
        { eval_time: '20m', alertname: 'FerryNotificationFailed', exp_alerts: [alert('webhook')] },
        { eval_time: '50m', alertname: 'FerryNotificationFailed', exp_alerts: [alert('smtp'), alert('webhook')] },
        { eval_time: '65m', alertname: 'FerryNotificationFailed', exp_alerts: [] },
      ]);
    } finally {
      await new Promise<void>((r) => smtp.close(() => r()));
      await new Promise<void>((r) => web.close(() => r()));
    }
  });
});
