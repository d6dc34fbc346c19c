import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FerryError } from '../errors/index.js';

/** Names whose values are secrets: registered with the redactor when they come from an env file. */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)/i;

export interface EnvFileValues {
  values: Record<string, string>;
  /** Values of secret-looking names, for the redactor. */
  secrets: string[];
}

/**
 * Reads `.env`-style files: KEY=VALUE lines, an optional `export `, single or double quotes, `#`
 * comments (whole lines, or after a space in an unquoted value). Later files override earlier ones.
 * Errors name the file and line, never a value.
 */
export async function readEnvFiles(files: readonly string[], cwd: string): Promise<EnvFileValues> {
  const values: Record<string, string> = {};
  for (const file of files) {
    const path = resolve(cwd, file);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (cause) {
      throw new FerryError('CONFIG_NOT_FOUND', `cannot read environment file ${path}`, { hint: 'Check the --env-file path (relative paths are taken from the current folder).', cause });
    }
    Object.assign(values, parseEnvText(text, path));
  }
  const secrets = Object.entries(values).filter(([name, value]) => SECRET_NAME.test(name) && value !== '').map(([, value]) => value);
  return { values, secrets };
}

export function parseEnvText(text: string, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (m === null) {
      throw new FerryError('CONFIG_INVALID', `${where}:${i + 1}: expected NAME=value`, { hint: 'Each line of an environment file is NAME=value, a comment (#) or empty.' });
    }
    const value = unquote(m[2] as string);
    if (value === undefined) {
      throw new FerryError('CONFIG_INVALID', `${where}:${i + 1}: ${m[1] as string}: the quote is not closed`, { hint: 'Values spanning lines are not supported; close the quote on the same line.' });
    }
    out[m[1] as string] = value;
  }
  return out;
}

function unquote(raw: string): string | undefined {
  const quote = raw[0];
  if (quote === '"' || quote === "'") {
    let end = 1;
    while (end < raw.length && raw[end] !== quote) end += quote === '"' && raw[end] === '\\' ? 2 : 1;
    if (end >= raw.length) return undefined;
    const inner = raw.slice(1, end);
    return quote === '"' ? inner.replace(/\\([\\"nt$])/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c)) : inner;
  }
  const comment = raw.search(/\s#/);
  return (comment < 0 ? raw : raw.slice(0, comment)).trim();
}

/** Sets the files' variables that the environment does not already have; returns their names. */
export function applyEnvFileValues(env: NodeJS.ProcessEnv, values: Record<string, string>): string[] {
  const applied: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    applied.push(name);
  }
  return applied;
}
