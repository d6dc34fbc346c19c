import { FerryError } from '../../errors/index.js';
import type { Store } from '../../stores/index.js';
import type { RestorePlan, RestoreRequest } from './plan.js';

/**
 * Hosts that are clearly on this machine or in its Docker Compose project: loopback names and
 * addresses, Unix sockets, *.localhost, Docker's host alias, and single-label names (Compose service
 * and container names). Anything else — a domain name, another IP — may be production.
 */
export function isLocalHost(host: string | undefined): boolean {
  if (host === undefined || host === '' || host.startsWith('/')) return true;
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost') || h === 'host.docker.internal' || h === '::1') return true;
  if (/^127\.\d+\.\d+\.\d+$/.test(h)) return true;
  return !h.includes('.') && !h.includes(':');
}

/** Refuses a server that is not clearly local unless told so: checked before connecting to it. */
export function guardTargetHosts(stores: Store[], request: RestoreRequest): void {
  if (request.allowRemote === true) return;
  for (const store of stores) {
    const remote = store.targetHosts().find((host) => !isLocalHost(host));
    if (remote !== undefined) {
      throw new FerryError('RESTORE_TARGET_REMOTE', `refusing to restore into ${store.describe()}: host ${remote} is not clearly local`, {
        hint: 'Restores go to localhost, a Unix socket or a Docker Compose service name by default; pass --allow-remote-target to restore into another host.',
      });
    }
  }
}

/** Refuses to restore into the very database the archive was taken from, unless told so. */
export function guardRestore(plan: RestorePlan): void {
  for (const planned of plan.stores) {
    const source = planned.manifest.fingerprint;
    if (plan.request.allowSource !== true && source !== undefined && planned.target.fingerprint !== undefined && source === planned.target.fingerprint) {
      throw new FerryError('RESTORE_INTO_SOURCE', `refusing to restore into ${planned.target.describe}: it is the database this archive was taken from`, {
        hint: 'Point DATABASE_URL at a development database, use --to-db for another database name, or pass --allow-source-target if replacing the source is really intended.',
      });
    }
  }
}
