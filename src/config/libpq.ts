import { readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { closest } from './suggest.js';

/**
 * libpq's conventions, so that what works for pg_dump works for Ferry: keyword/value connection
 * strings, the PG* environment variables, the connection service file and the password file.
 * Everything resolves to one postgresql:// URL at load time; the rest of Ferry reads only that.
 */
export type ConnParams = Record<string, string>;

/** libpq's connection keywords (PostgreSQL 17 "Parameter Key Words"); any other is an error there too. */
const KEYWORDS = [
  'host', 'hostaddr', 'port', 'dbname', 'user', 'password', 'passfile', 'require_auth', 'channel_binding', 'connect_timeout',
  'client_encoding', 'options', 'application_name', 'fallback_application_name', 'keepalives', 'keepalives_idle',
  'keepalives_interval', 'keepalives_count', 'tcp_user_timeout', 'replication', 'gssencmode', 'sslmode', 'requiressl',
  'sslnegotiation', 'sslcompression', 'sslcert', 'sslkey', 'sslpassword', 'sslcertmode', 'sslrootcert', 'sslcrl', 'sslcrldir',
  'sslsni', 'requirepeer', 'ssl_min_protocol_version', 'ssl_max_protocol_version', 'krbsrvname', 'gsslib', 'gssdelegation',
  'service', 'target_session_attrs', 'load_balance_hosts',
];
const KNOWN = new Set(KEYWORDS);

/** The variables that fill a part the URL, the keyword/value string or the service left out. */
const ENV_FALLBACKS: ReadonlyArray<[keyword: string, variable: string]> = [
  ['host', 'PGHOST'], ['hostaddr', 'PGHOSTADDR'], ['port', 'PGPORT'], ['user', 'PGUSER'], ['password', 'PGPASSWORD'], ['dbname', 'PGDATABASE'],
];

/** In environment-only mode, these alone configure the PostgreSQL store (PGUSER or PGPASSWORD alone are often set for other tools). */
export const PG_STORE_VARIABLES = ['PGHOST', 'PGHOSTADDR', 'PGDATABASE', 'PGSERVICE'] as const;

/** A problem with a libpq input, naming where it is (a variable or file) and never a value that could be a password. */
export class LibpqProblem extends Error {
  constructor(readonly where: string, message: string) {
    super(message);
  }
}

export function isKeywordValue(text: string): boolean {
  return /^\s*[A-Za-z_]+\s*=/.test(text);
}

/**
 * A keyword/value string as libpq reads it: `keyword = value` separated by spaces; a value holding
 * spaces, or an empty one, is written in single quotes; `\'` and `\\` escape inside a value.
 * Returns the parameters or what is wrong, without echoing a value.
 */
export function parseKeywordValue(text: string): ConnParams | string {
  const params: ConnParams = {};
  const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
  let i = 0;
  let setting = 0;
  for (;;) {
    while (isSpace(text[i])) i++;
    if (i >= text.length) break;
    setting++;
    const start = i;
    while (i < text.length && !isSpace(text[i]) && text[i] !== '=') i++;
    const keyword = text.slice(start, i);
    while (isSpace(text[i])) i++;
    if (text[i] !== '=') return `setting ${setting} has no = (write keyword=value pairs separated by spaces, and quote a value holding spaces: password='a b')`;
    if (!KNOWN.has(keyword)) {
      const guess = closest(keyword, KEYWORDS);
      return guess === undefined ? `setting ${setting} is not a libpq keyword (host, port, dbname, user, password, sslmode, …)` : `unknown keyword ${keyword}, did you mean ${guess}`;
    }
    i++;
    while (isSpace(text[i])) i++;
    let value = '';
    if (text[i] === "'") {
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i] as string;
        if (c === '\\' && i + 1 < text.length) {
          value += text[i + 1];
          i += 2;
        } else if (c === "'") {
          closed = true;
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) return `the quoted value of ${keyword} has no closing ' (write a quote inside a value as \\')`;
      if (i < text.length && !isSpace(text[i])) return `the quoted value of ${keyword} runs into the next setting; separate settings with a space`;
    } else {
      while (i < text.length && !isSpace(text[i])) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        value += text[i];
        i++;
      }
      if (value === '') return `${keyword} has no value (write ${keyword}='' for an empty one)`;
    }
    const problem = valueProblem(keyword, value);
    if (problem !== undefined) return problem;
    params[keyword] = value;
  }
  if (setting === 0) return 'it is empty';
  return params;
}

function valueProblem(keyword: string, value: string): string | undefined {
  if (keyword !== 'port') return undefined;
  for (const port of value.split(',')) {
    if (!/^\d+$/.test(port)) return 'the port is not a number';
    if (Number(port) < 1 || Number(port) > 65535) return `port ${port} is out of range 1-65535`;
  }
  return undefined;
}

/**
 * Resolves a connection (a postgresql:// URL, a keyword/value string, or none) with libpq's
 * precedence: what it names explicitly wins, then the service (its `service` keyword or PGSERVICE),
 * then the PG* variables, then the password file; the database defaults to the user name, as in
 * libpq. Returns the input itself when nothing is added, and undefined when there is nothing to
 * connect to. The input must already be valid (postgresUrlProblem).
 */
export function resolveConnection(input: string | undefined, env: NodeJS.ProcessEnv): { url: string; warnings: string[] } | undefined {
  const set = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  let explicit: ConnParams;
  if (input === undefined) {
    if (!PG_STORE_VARIABLES.some((name) => set(name) !== undefined)) return undefined;
    explicit = {};
  } else if (isKeywordValue(input)) {
    const parsed = parseKeywordValue(input);
    if (typeof parsed === 'string') return { url: input, warnings: [] };
    explicit = parsed;
  } else {
    const parsed = urlParams(input);
    // A multi-host URL goes to libpq as it is: the tools apply the PG* variables themselves.
    if (parsed === undefined) return { url: input, warnings: [] };
    explicit = parsed;
  }

  const params: ConnParams = { ...explicit };
  const serviceName = params.service ?? set('PGSERVICE');
  if (serviceName !== undefined) {
    for (const [keyword, value] of Object.entries(serviceParams(serviceName, env))) params[keyword] ??= value;
  }
  for (const [keyword, variable] of ENV_FALLBACKS) {
    const value = set(variable);
    if (params[keyword] !== undefined || value === undefined) continue;
    const problem = valueProblem(keyword, value);
    if (problem !== undefined) throw new LibpqProblem(`environment variable ${variable}`, problem);
    params[keyword] = value;
  }
  // libpq's defaults: the operating-system user, and a database named after the user.
  if (params.password !== undefined && params.user === undefined) params.user = userInfo().username;
  params.dbname ??= params.user ?? userInfo().username;
  const warnings: string[] = [];
  if (params.password === undefined) {
    const found = passfilePassword(params.passfile ?? set('PGPASSFILE') ?? join(homedir(), '.pgpass'), params, set('PGPASSFILE') !== undefined || params.passfile !== undefined);
    if (found.warning !== undefined) warnings.push(found.warning);
    if (found.password !== undefined) {
      params.password = found.password;
      params.user ??= userInfo().username;
    }
  }
  delete params.service;
  delete params.passfile;
  const added = Object.keys(params).some((keyword) => explicit[keyword] === undefined) || explicit.service !== undefined || explicit.passfile !== undefined;
  if (input !== undefined && !isKeywordValue(input) && !added) return { url: input, warnings };
  return { url: toUrl(params), warnings };
}

/** The parameters of a single-host URL; undefined for a host list, which WHATWG URL cannot read. */
function urlParams(url: string): ConnParams | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const params: ConnParams = {};
  for (const [keyword, value] of u.searchParams) params[keyword] = value;
  try {
    if (u.username !== '') params.user ??= decodeURIComponent(u.username);
    if (u.password !== '') params.password ??= decodeURIComponent(u.password);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host !== '') params.host ??= decodeURIComponent(host);
    const dbname = decodeURIComponent(u.pathname.replace(/^\//, ''));
    if (dbname !== '') params.dbname ??= dbname;
  } catch {
    // A host WHATWG URL accepts with a stray % : the tools get the URL as written, and say what they make of it.
    return undefined;
  }
  if (u.port !== '') params.port ??= u.port;
  return params;
}

function toUrl(params: ConnParams): string {
  const { host, port, user, password, dbname, ...rest } = params;
  const query = new URLSearchParams();
  let authority = '';
  if (host !== undefined && !host.includes('/') && !host.includes(',')) {
    authority = host.includes(':') ? `[${host}]` : encodeURIComponent(host);
    if (port !== undefined) authority += `:${port}`;
  } else {
    // A socket directory or a host list is a query parameter in a libpq URL.
    if (host !== undefined) query.set('host', host);
    if (port !== undefined) query.set('port', port);
  }
  for (const [keyword, value] of Object.entries(rest)) query.set(keyword, value);
  const userinfo = user === undefined ? '' : `${encodeURIComponent(user)}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@`;
  const search = query.size === 0 ? '' : `?${query.toString()}`;
  return `postgresql://${userinfo}${authority}/${encodeURIComponent(dbname ?? '')}${search}`;
}

/**
 * A service's parameters from the per-user file (PGSERVICEFILE, else ~/.pg_service.conf), then the
 * system one (PGSYSCONFDIR/pg_service.conf, Debian's /etc/postgresql-common by default): INI
 * sections of keyword=value lines, as libpq reads them.
 */
function serviceParams(name: string, env: NodeJS.ProcessEnv): ConnParams {
  const files = [env.PGSERVICEFILE || join(homedir(), '.pg_service.conf'), join(env.PGSYSCONFDIR || '/etc/postgresql-common', 'pg_service.conf')];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      if (file === env.PGSERVICEFILE) throw new LibpqProblem('environment variable PGSERVICEFILE', `cannot read the service file ${file}`);
      continue;
    }
    const found = serviceInFile(text, name, file);
    if (found !== undefined) return found;
  }
  throw new LibpqProblem('PGSERVICE or service=', `service ${name} is not defined in ${files.join(' or ')}`);
}

function serviceInFile(text: string, name: string, file: string): ConnParams | undefined {
  let current: string | undefined;
  let params: ConnParams | undefined;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[(.*)\]$/.exec(line);
    if (section !== null) {
      if (params !== undefined) return params;
      current = section[1];
      if (current === name) params = {};
      continue;
    }
    if (current !== name || params === undefined) continue;
    const eq = line.indexOf('=');
    const keyword = eq < 0 ? '' : line.slice(0, eq).trim();
    if (!KNOWN.has(keyword) || keyword === 'service') throw new LibpqProblem(file, `line ${n + 1} is not a libpq keyword=value setting`);
    const value = line.slice(eq + 1).trim();
    const problem = valueProblem(keyword, value);
    if (problem !== undefined) throw new LibpqProblem(`${file}:${n + 1}`, problem);
    params[keyword] = value;
  }
  return params;
}

/**
 * The password file's first line matching host, port, database and user (`*` matches anything;
 * `\:` and `\\` escape). As libpq, a file that others can read is ignored, with a warning.
 */
function passfilePassword(file: string, params: ConnParams, named: boolean): { password?: string; warning?: string } {
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) return { warning: `password file ${file} can be read by other users and is ignored, as libpq does; run chmod 600 on it` };
    text = readFileSync(file, 'utf8');
  } catch {
    return named ? { warning: `password file ${file} cannot be read` } : {};
  }
  const host = params.host === undefined || params.host.startsWith('/') ? 'localhost' : params.host;
  const wanted = [host, params.port ?? '5432', params.dbname ?? '', params.user ?? userInfo().username];
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const fields = splitPassfileLine(line);
    if (fields.length < 5) continue;
    if (wanted.every((value, i) => fields[i] === '*' || fields[i] === value)) return { password: fields[4] };
  }
  return {};
}

function splitPassfileLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '\\' && i + 1 < line.length) field += line[++i];
    else if (c === ':' && fields.length < 4) {
      fields.push(field);
      field = '';
    } else field += c;
  }
  return [...fields, field];
}
