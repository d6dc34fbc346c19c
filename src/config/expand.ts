/**
 * `${VAR}` and `${VAR:-default}` expansion inside YAML string values, as Docker Compose does it.
 * It runs on parsed values, not on the file text, so a variable's value can never change the YAML
 * structure. `$$` stands for a literal `$`.
 */
const PATTERN = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function expandString(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(PATTERN, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$$') return '$';
    const actual = env[name ?? ''];
    if (actual !== undefined && actual !== '') return actual;
    // `$$` is a literal `$` inside a default too, as at the top level.
    return (fallback ?? '').replace(/\$\$/g, '$');
  });
}

export function expandValues(value: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') return expandString(value, env);
  if (Array.isArray(value)) return value.map((item) => expandValues(item, env));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      const expanded = expandValues(inner, env);
      // An empty value means "not set", so defaults and "required" checks apply as if it were absent.
      if (expanded !== '') out[key] = expanded;
    }
    return out;
  }
  return value;
}
