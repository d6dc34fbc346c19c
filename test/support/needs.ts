/**
 * Whether a test must be skipped for want of a tool or a privilege. Outside CI it is skipped (with
 * the reason printed); in CI (CI set and not "false") a missing requirement fails the run instead,
 * because .ci/run installs everything the tests need.
 */
export function missing(requirement: string, available: boolean): boolean {
  if (available) return false;
  const ci = process.env.CI;
  if (ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0') {
    throw new Error(`${requirement} is required in CI (CI=${ci}) but is missing; .ci/run must install or provide it`);
  }
  console.warn(`skipped: ${requirement} is missing`);
  return true;
}
