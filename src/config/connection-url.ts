import { isKeywordValue, parseKeywordValue } from './libpq.js';

interface UrlKind {
  product: string;
  schemes: readonly string[];
  example: string;
}

const POSTGRES: UrlKind = { product: 'PostgreSQL', schemes: ['postgresql', 'postgres'], example: 'postgresql://user:password@host:5432/database' };
const MONGODB: UrlKind = { product: 'MongoDB', schemes: ['mongodb', 'mongodb+srv'], example: 'mongodb://user:password@host:27017/database' };

/**
 * What is wrong with a PostgreSQL connection URL, in words that name the part (scheme, @, host,
 * port, percent-encoding) and never repeat the user or password; undefined when it is usable.
 * Multi-host URLs (host1:5432,host2:5433) and socket URLs (postgresql:///db?host=/run/postgresql)
 * are valid, as libpq reads them.
 */
export function postgresUrlProblem(url: string): string | undefined {
  if (isKeywordValue(url)) {
    const parsed = parseKeywordValue(url);
    return typeof parsed === 'string' ? `keyword/value settings: ${parsed}` : undefined;
  }
  const problem = urlProblem(url, POSTGRES);
  return problem?.startsWith('expected a URL') === true ? `${problem}, or keyword/value settings such as host=db dbname=app user=app` : problem;
}

/** The same for a MongoDB connection string (mongodb:// with a host list, or mongodb+srv:// with one host). */
export function mongodbUrlProblem(url: string): string | undefined {
  const problem = urlProblem(url, MONGODB);
  if (problem !== undefined) return problem;
  const srv = /^mongodb\+srv:\/\/(?:[^@/?]*@)?([^/?]*)/i.exec(url)?.[1];
  if (srv !== undefined && (srv.includes(',') || srv.includes(':'))) return 'a mongodb+srv:// URL names exactly one host, without a port';
  if (/^mongodb(\+srv)?:\/\/(?:[^@/?]*@)?(?:[/?]|$)/i.test(url)) return 'the URL names no host';
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  for (const option of query.split('&').filter((o) => o !== '')) {
    const [name = '', value = ''] = option.split('=', 2);
    if (name === '' || value === '') return `the URL option ${name === '' ? '(unnamed)' : name} has no value`;
  }
  return undefined;
}

function urlProblem(url: string, kind: UrlKind): string | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1];
  const known = scheme !== undefined && kind.schemes.includes(scheme.toLowerCase());
  if (scheme === undefined || (!known && !url.startsWith('//', scheme.length + 1))) return `expected a URL such as ${kind.example}`;
  if (!known) return `the scheme ${scheme}:// is not ${kind.product}; expected ${kind.example}`;
  if (!url.startsWith('//', scheme.length + 1)) return `expected // after ${scheme}:`;
  const rest = url.slice(scheme.length + 3);
  if (rest.includes('#')) return 'it holds a # that is not percent-encoded; write # as %23 (also in a password)';
  const authorityEnd = rest.search(/[/?]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  if (authority.indexOf('@') !== at) return 'it holds more than one @ before the host; write an @ in the user or password as %40';
  const userinfo = at < 0 ? undefined : authority.slice(0, at);
  const hostList = at < 0 ? authority : authority.slice(at + 1);
  if (userinfo !== undefined) {
    if (userinfo.startsWith(':') || userinfo === '') return 'the user name before the @ is empty';
    try {
      for (const part of userinfo.split(':')) decodeURIComponent(part);
    } catch {
      return 'the user or password holds a % that does not start a percent-encoding; write % as %25';
    }
  }
  if (hostList === '') return undefined;
  const hint = userinfo === undefined && authority.includes(':') ? ' (is the @ between user:password and the host missing?)' : '';
  for (const host of hostList.split(',')) {
    const match = /^(\[[^\]]*\]|[^:[\]]*)(?::(.*))?$/.exec(host);
    if (match === null) return `a host part is not host or host:port${hint || ' (a : in the password must be followed by @host)'}`;
    const [, name = '', port] = match;
    if (name === '' && hostList.includes(',')) return 'a host in the host list is empty';
    if (port === undefined) continue;
    if (!/^\d+$/.test(port)) return `the port is not a number${hint}`;
    if (Number(port) < 1 || Number(port) > 65535) return `port ${port} is out of range 1-65535`;
  }
  if (!hostList.includes(',')) {
    try {
      new URL(url);
    } catch {
      return 'it is not a valid URL; percent-encode special characters in the user, password and database name';
    }
  }
  return undefined;
}
