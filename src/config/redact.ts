/**
 * Removes secrets from any text before it is printed, logged or written.
 *
 * Where a secret can appear it is masked whatever it looks like: the password part of any URL, the
 * value after a secret-sounding key (`password=`, `PGPASSWORD=`, `"passphrase": `), and a long secret
 * anywhere. Elsewhere a known secret is masked as a whole token only (between spaces, quotes,
 * brackets, `:`, `@`, `=`, `,`, `;`), so that a password such as `regress` does not turn
 * `/srv/regression` into `/srv/***ion`, while the password itself, however short, never shows.
 */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):([^@/?#\s]*)@/gi;
const SECRET_KEY_VALUE = /\b([A-Za-z_]*(?:password|passwd|secret|token|passphrase|api_?key|access_?key|mask_?key))("?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s"',;&]+)/gi;
/** Shorter secrets could be part of ordinary words and paths; longer ones are masked anywhere. */
const ANYWHERE_LENGTH = 12;
const TOKEN_EDGE = `\\s"'()[\\]{}<>,;:@=`;

export class Redactor {
  private readonly secrets: string[];

  constructor(secrets: Iterable<string> = []) {
    this.secrets = [...new Set([...secrets].filter((s) => s !== ''))].sort((a, b) => b.length - a.length);
  }

  with(more: Iterable<string>): Redactor {
    return new Redactor([...this.secrets, ...more]);
  }

  redact(text: string): string {
    let out = text.replace(URL_PASSWORD, '$1:***@');
    out = out.replace(SECRET_KEY_VALUE, (match: string, key: string, separator: string, value: string) => {
      // JSON's true, false and null say whether there is a secret, never what it is (a manifest's "passphrase": false).
      if (/^(true|false|null)$/.test(value)) return match;
      const quote = value.startsWith('"') || value.startsWith("'") ? value[0] : '';
      return `${key}${separator}${quote}***${quote}`;
    });
    for (const secret of this.secrets) {
      for (const form of new Set([secret, encodeURIComponent(secret)])) {
        out = form.length >= ANYWHERE_LENGTH || /\s/.test(form) ? out.split(form).join('***') : maskToken(out, form);
      }
    }
    return out;
  }
}

function maskToken(text: string, secret: string): string {
  const pattern = new RegExp(`(^|[${TOKEN_EDGE}])${escapeRegExp(secret)}(?=$|[${TOKEN_EDGE}]|[.!?](?:$|\\s))`, 'g');
  return text.replace(pattern, '$1***');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** The URL without its password, for display and for child process arguments. */
export function urlWithoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return new Redactor().redact(url);
  }
}

export function passwordOf(url: string): string | undefined {
  try {
    const password = new URL(url).password;
    return password === '' ? undefined : decodeURIComponent(password);
  } catch {
    return undefined;
  }
}
