import { describe, expect, it } from 'vitest';
import { FerryError, interrupted } from '../../src/errors/index.js';
import { withStoreStates } from '../../src/ops/restore/apply.js';
import type { RestorePlan } from '../../src/ops/restore/plan.js';

const plan = { stores: ['postgres', 'mongo', 'uploads'].map((kind) => ({ store: { kind } })) } as unknown as Pick<RestorePlan, 'stores'>;
const hintOf = (error: unknown) => (error as FerryError).hint;

describe('a restore stopped part-way says what each store holds, and how to get back what it replaced', () => {
  it('Ctrl-C after postgres was swapped in: not "nothing was kept", but --undo --only postgres before running it again', () => {
    const hint = hintOf(withStoreStates(interrupted(), plan, 1));
    expect(hint).not.toMatch(/Nothing was kept/);
    expect(hint).toBe('postgres was restored before that: ferry restore --undo --only postgres puts back what it replaced; running the restore again first drops that copy. State: postgres: restored; mongo: failed, left as it was; uploads: not started, unchanged.');
  });

  it('a failure keeps its own hint; before any store was swapped nothing more is said', () => {
    const failed = new FerryError('MONGO_TOOL_FAILED', 'docker cp failed', { hint: 'Check the volume.' });
    expect(hintOf(withStoreStates(failed, plan, 2))).toBe('Check the volume. postgres and mongo were restored before that: ferry restore --undo --only postgres,mongo puts back what they replaced; running the restore again first drops that copy. State: postgres: restored; mongo: restored; uploads: failed, left as it was.');
    expect(hintOf(withStoreStates(interrupted(), plan, 0))).toBe('Nothing was kept from the interrupted run; run the command again when ready. State: postgres: failed, left as it was; mongo: not started, unchanged; uploads: not started, unchanged.');
  });
});
