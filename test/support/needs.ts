/** CI is set (and not "false" or "0"): .ci/run has installed everything the tests need. */
export const inCI = ((ci) => ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0')(process.env.CI);

/**
 * Whether a test is to be skipped for want of a tool or a privilege: outside CI it is (with the
 * reason printed); in CI never, so the test runs and fails on what is missing instead of passing
 * by skipping.
 */
export function missing(requirement: string, available: boolean): boolean {
  if (available) return false;
  if (inCI) {
    console.error(`CI: ${requirement} is missing; the test that needs it runs anyway and will fail`);
    return false;
  }
  console.warn(`skipped: ${requirement} is missing`);
  return true;
}
