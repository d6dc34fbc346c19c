import { FerryError } from '../../errors/index.js';
import type { RestorePlan } from './plan.js';

/** Refuses to restore into the very database the archive was taken from, unless told so. */
export function guardRestore(plan: RestorePlan): void {
  if (plan.request.allowSource === true) return;
  for (const planned of plan.stores) {
    const source = planned.manifest.fingerprint;
    if (source !== undefined && planned.target.fingerprint !== undefined && source === planned.target.fingerprint) {
      throw new FerryError('RESTORE_INTO_SOURCE', `refusing to restore into ${planned.target.describe}: it is the database this archive was taken from`, {
        hint: 'Point DATABASE_URL at a development database, use --to-db for another database name, or pass --allow-source-target if replacing the source is really intended.',
      });
    }
  }
}
