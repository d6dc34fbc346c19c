import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
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
    const test = {
      rule_files: [RULES],
      evaluation_interval: '1m',
      tests: [{
        interval: '1m',
        input_series: seriesOf(snapshots),
        alert_rule_test: [
          { eval_time: '5m', alertname: 'FerryBackupFailed', exp_alerts: [] },
          { eval_time: '20m', alertname: 'FerryBackupFailed', exp_alerts: firing },
          { eval_time: '50m', alertname: 'FerryBackupFailed', exp_alerts: firing },
          { eval_time: '70m', alertname: 'FerryBackupFailed', exp_alerts: firing },
          { eval_time: '80m', alertname: 'FerryBackupFailed', exp_alerts: [] },
          { eval_time: '95m', alertname: 'FerryBackupFailed', exp_alerts: [] },
        ],
      }],
    };
    const file = join(work, 'ferry.rules.test.yml');
    // JSON is YAML: promtool reads it as is.
    writeFileSync(file, JSON.stringify(test, null, 2));
    const result = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });
});
