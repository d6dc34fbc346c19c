/**
 * Whether to colour what goes to `stream`, as https://no-color.org and Node's own tty code read the
 * environment: FORCE_COLOR wins (0 or false turns colour off), then a non-empty NO_COLOR or
 * NODE_DISABLE_COLORS turns it off, then only a terminal other than TERM=dumb gets colour.
 */
export function wantsColour(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !['0', 'false'].includes(force.toLowerCase());
  if ((env.NO_COLOR ?? '') !== '' || (env.NODE_DISABLE_COLORS ?? '') !== '') return false;
  return stream.isTTY === true && env.TERM !== 'dumb';
}
