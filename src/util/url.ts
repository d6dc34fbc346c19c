/**
 * The hosts a connection URL names, without ports or credentials: several for a MongoDB replica set
 * (mongodb://a:27017,b:27017/db), the socket folder for a PostgreSQL URL with ?host=/path, none when
 * the URL leaves the host to the client's default (a local socket).
 */
export function hostsOfUrl(url: string): string[] {
  const match = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^/?#]*)/i.exec(url);
  const authority = match?.[1] ?? '';
  const hosts = authority.split(',').map((h) => {
    const bracketed = /^\[([^\]]*)\](?::\d+)?$/.exec(h);
    return bracketed !== null ? (bracketed[1] ?? '') : h.replace(/:\d+$/, '');
  }).filter((h) => h !== '');
  const socket = /[?&]host=([^&]+)/.exec(url)?.[1];
  if (socket !== undefined) hosts.push(decodeURIComponent(socket));
  if (/^mongodb\+srv:/i.test(url)) return hosts.map((h) => `${h} (SRV)`);
  return hosts.map((h) => decodeURIComponent(h));
}
