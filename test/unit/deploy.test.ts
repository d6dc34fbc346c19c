import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FERRY_BIN } from '../support/cli.js';
import { missing } from '../support/needs.js';
import { tempDir } from '../support/tmp.js';

const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));
const UNITS = ['ferry-backup.service', 'ferry-backup.timer', 'ferry-health.service', 'ferry-health.timer', 'ferry-compose-backup.service', 'ferry-compose-backup.timer', 'ferry-serve.service'];
/** The stand-in docker: verify needs ExecStart's program to exist, and no Docker is installed here. */
const STAND_IN_DOCKER = fileURLToPath(new URL('../support/bin/docker', import.meta.url));
const read = (file: string) => readFileSync(join(DEPLOY, file), 'utf8');

describe('deploy/: systemd units and cron', () => {
  it('schedules the backup daily at 02:00, catches up missed runs, and hardens the service', () => {
    const timer = read('systemd/ferry-backup.timer');
    expect(timer).toMatch(/^OnCalendar=\*-\*-\* 02:00:00$/m);
    expect(timer).toMatch(/^Persistent=true$/m);
    expect(timer).toMatch(/^RandomizedDelaySec=\S+$/m);
    const service = read('systemd/ferry-backup.service');
    for (const line of ['ProtectSystem=strict', 'NoNewPrivileges=true', 'PrivateTmp=true', 'UMask=0077']) expect(service).toContain(`\n${line}\n`);
    expect(service).toMatch(/^ReadWritePaths=\/home\/legrimoire\/apps\/le-grimoire\/backups /m);
    expect(service).toMatch(/^ExecStart=\/usr\/local\/bin\/ferry backup .*--metrics-file /m);
    expect(read('systemd/ferry-health.service')).toMatch(/^ExecStart=\/usr\/local\/bin\/ferry health /m);
    expect(read('systemd/ferry-health.service')).toMatch(/^SuccessExitStatus=1 2$/m);
    const serve = read('systemd/ferry-serve.service');
    expect(serve).toMatch(/^ExecStart=\/usr\/local\/bin\/ferry serve --config ferry\.config\.yaml /m);
    // A stop by SIGTERM is Ferry's "interrupted" (130): a clean stop for the unit, not a failure.
    expect(serve).toMatch(/^SuccessExitStatus=130$/m);
    for (const line of ['ProtectSystem=strict', 'NoNewPrivileges=true', 'PrivateTmp=true', 'UMask=0077']) expect(serve).toContain(`\n${line}\n`);
    expect(serve).toMatch(/^ReadWritePaths=\/home\/legrimoire\/apps\/le-grimoire\/backups$/m);
    const crontab = read('cron/ferry.crontab');
    expect(crontab).toMatch(/^PATH=\/usr\/local\/bin:/m);
    expect(crontab).toMatch(/^0 2 \* \* \* .*flock -n \/tmp\/ferry-backup\.lock ferry backup /m);
    expect(crontab).not.toContain('npx');
  });

  it('the Compose timer runs docker compose run --rm ferry backup nightly, with the snippet\'s files and the env file', () => {
    const timer = read('systemd/ferry-compose-backup.timer');
    expect(timer).toMatch(/^OnCalendar=\*-\*-\* 02:00:00$/m);
    expect(timer).toMatch(/^Persistent=true$/m);
    const service = read('systemd/ferry-compose-backup.service');
    expect(service).toMatch(/^ExecStart=\/usr\/bin\/docker compose --env-file \.env\.production -f docker-compose\.prod\.yml -f docker-compose\.ferry\.yml run --rm ferry backup$/m);
    expect(service).toMatch(/^WorkingDirectory=\/home\/legrimoire\/apps\/le-grimoire$/m);
    expect(service).toMatch(/^Type=oneshot$/m);
  });

  it('passes systemd-analyze verify without a warning', async (context) => {
    if (missing('systemd-analyze (Debian package systemd)', spawnSync('systemd-analyze', ['--version']).status === 0)) {
      context.skip('systemd-analyze is not installed');
      return;
    }
    // verify also checks that ExecStart's program exists: /usr/local/bin/ferry, where docs/install.md
    // puts it, is not installed on a test machine, so the copies verified run this checkout's build.
    const dir = await tempDir();
    for (const unit of UNITS) await writeFile(join(dir, unit), read(`systemd/${unit}`).replaceAll('/usr/local/bin/ferry ', `${process.execPath} ${FERRY_BIN} `).replaceAll('/usr/bin/docker ', `${STAND_IN_DOCKER} `));
    const result = spawnSync('systemd-analyze', ['verify', '--man=no', ...UNITS.map((u) => join(dir, u))], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr.trim()).toBe('');
  });
});
