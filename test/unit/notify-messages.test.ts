import { describe, expect, it } from 'vitest';
import { smtpConfigSchema } from '../../src/config/schema.js';
import { emailFor } from '../../src/notify/messages.js';

const smtp = smtpConfigSchema.parse({ host: 'mail.example', from: 'ferry@example', to: 'ops@example', events: { anomaly: true, health_critical: true } });

describe('notification e-mails', () => {
  it('a run says how long it took; health news, which is about backups and not a run, has no duration line', () => {
    const failed = emailFor(smtp, 'production', { command: 'backup', outcome: 'failure', kind: 'backup_failed', durationSeconds: 42.5, error: { code: 'PG_CONNECT', message: 'cannot connect', exitCode: 1 } });
    expect(failed?.text).toMatch(/^Duration: 42.5 s$/m);
    const anomaly = emailFor(smtp, 'production', { command: 'health', outcome: 'failure', kind: 'anomaly', details: ['postgres table public.users: 4 rows, 96 % fewer than the previous backup (100)'] });
    expect(anomaly?.subject).toMatch(/data anomaly: postgres table public\.users/);
    expect(anomaly?.text).toMatch(/^- postgres table public\.users: 4 rows/m);
    expect(anomaly?.text).not.toMatch(/Duration/);
    const critical = emailFor(smtp, undefined, { command: 'health', outcome: 'failure', kind: 'health_critical', details: ['newest backup is 30 h old'] });
    expect(critical?.text).not.toMatch(/Duration/);
  });
});
