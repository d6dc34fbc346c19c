/** Where a reader can start inflating to reach an entry: the manifest's `seek`. */
export type SeekPoint = { offset: number; skip: number };

/**
 * Runs `pass` from `seek`, and again from the file's start when that read fails or ends before
 * reaching the entry the point was recorded for (a sidecar copied beside another archive, damage
 * before the entry): `onMissed` is told why. A failure after the entry was reached is thrown. The
 * pass calls `onReached` at that entry, and stops (StopReading) when another one comes first.
 */
export async function fromSeekPoint<T>(
  seek: SeekPoint | undefined,
  pass: (from: SeekPoint | undefined, onReached: () => void) => Promise<T>,
  onMissed: (why: string) => void,
): Promise<T> {
  if (seek !== undefined) {
    let reached = false;
    const outcome = await pass(seek, () => (reached = true)).then(
      (value): { value: T } | { missed: string } => (reached ? { value } : { missed: 'another entry is there' }),
      (error: unknown) => {
        if (reached) throw error;
        return { missed: (error as Error).message };
      },
    );
    if ('value' in outcome) return outcome.value;
    onMissed(outcome.missed);
  }
  return pass(undefined, () => undefined);
}
