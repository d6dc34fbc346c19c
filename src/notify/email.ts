import { readFile } from 'node:fs/promises';
import type { SmtpConfig } from '../config/index.js';

export interface EmailMessage {
  subject: string;
  text: string;
}

export interface EmailOutcome {
  ok: boolean;
  /** Why it failed, without the password. */
  reason?: string;
}

/** The SMTP password from its file or its environment variable; never from the config file itself. */
export async function smtpPassword(config: SmtpConfig): Promise<string | undefined> {
  if (config.password_env !== undefined) {
    const value = process.env[config.password_env];
    if (value !== undefined && value !== '') return value;
  }
  if (config.password_file !== undefined) return (await readFile(config.password_file, 'utf8')).replace(/\r?\n$/, '');
  return undefined;
}

function defaultPort(security: SmtpConfig['security']): number {
  return security === 'tls' ? 465 : security === 'starttls' ? 587 : 25;
}

/**
 * Sends one message with nodemailer: implicit TLS, STARTTLS required, or plain; every phase bounded
 * by the timeout. Never throws: a notification must not change the outcome of the run it reports.
 */
export async function sendEmail(config: SmtpConfig, message: EmailMessage, timeoutMs: number): Promise<EmailOutcome> {
  let password: string | undefined;
  try {
    password = await smtpPassword(config);
  } catch (error) {
    return { ok: false, reason: `cannot read notify.smtp.password_file: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` };
  }
  const hide = (text: string) => (password === undefined || password === '' ? text : text.split(password).join('***'));
  try {
    // Loaded on first use: most runs send no e-mail.
    const { createTransport } = await import('nodemailer');
    const transport = createTransport({
      host: config.host,
      port: config.port ?? defaultPort(config.security),
      secure: config.security === 'tls',
      requireTLS: config.security === 'starttls',
      ignoreTLS: config.security === 'none',
      ...(config.user === undefined ? {} : { auth: { user: config.user, pass: password ?? '' } }),
      tls: { rejectUnauthorized: !config.allow_self_signed },
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
    let timer: NodeJS.Timeout | undefined;
    const overall = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
    });
    try {
      await Promise.race([transport.sendMail({ from: config.from, to: config.to, subject: message.subject, text: message.text }), overall]);
    } finally {
      clearTimeout(timer);
      transport.close();
    }
    return { ok: true };
  } catch (error) {
    const e = error as Error & { code?: string; responseCode?: number };
    const detail = e.responseCode !== undefined ? `${e.responseCode} ${e.message}` : e.code !== undefined && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message;
    return { ok: false, reason: hide(detail.split('\n')[0] ?? detail) };
  }
}
