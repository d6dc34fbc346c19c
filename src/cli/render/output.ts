import type { Logger, ProgressReporter } from '../../stores/index.js';
import type { Redactor } from '../../config/index.js';
import { formatBytes } from '../../util/format.js';
import { jsonDocument } from './json.js';

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  /** text: human lines (timestamped off a terminal); json: one JSON object per line, for journald or Loki. */
  logFormat: 'text' | 'json';
}

/**
 * The only place that writes to the terminal. Data goes to stdout; logs, progress and errors go to
 * stderr, redacted. On a TTY progress redraws one line; elsewhere (cron, CI) it logs plain lines.
 */
export class Output {
  readonly tty: boolean;
  private progressLabel: string | undefined;
  private pendingJson: object | undefined;
  private progressStarted = 0;
  private lastDraw = 0;

  constructor(readonly options: OutputOptions, private redactor: Redactor) {
    this.tty = process.stderr.isTTY === true && options.logFormat === 'text';
  }

  setRedactor(redactor: Redactor): void {
    this.redactor = redactor;
  }

  /** Data for the user (tables, JSON); never hidden by --quiet. */
  data(text: string): void {
    process.stdout.write(this.redactor.redact(text) + (text.endsWith('\n') ? '' : '\n'));
  }

  /**
   * The command's JSON document, written when the run ends: a command that then fails (verify of a
   * corrupt archive, a restore whose counts differ) adds its error to it, so stdout holds one document.
   */
  json(value: object): void {
    this.pendingJson = value;
  }

  /** The document a command left for the end of the run, taken once. */
  takeJson(): object | undefined {
    const value = this.pendingJson;
    this.pendingJson = undefined;
    return value;
  }

  flushJson(): void {
    const value = this.takeJson();
    if (value !== undefined) this.data(jsonDocument(value));
  }

  readonly logger: Logger = {
    info: (message) => {
      if (!this.options.quiet) this.line(message);
    },
    warn: (message) => this.line(message, 'warning'),
    debug: (message) => {
      if (this.options.verbose) this.line(message, 'debug');
    },
  };

  readonly progress: ProgressReporter = {
    start: (label) => {
      this.clearProgress();
      this.progressLabel = label;
      this.progressStarted = Date.now();
      if (!this.tty && !this.options.quiet) this.line(`${label} …`);
      else this.draw(label);
    },
    update: (doneBytes) => {
      if (this.progressLabel === undefined || !this.tty || this.options.quiet) return;
      const now = Date.now();
      if (now - this.lastDraw < 100) return;
      this.lastDraw = now;
      const seconds = (now - this.progressStarted) / 1000;
      this.draw(`${this.progressLabel}  ${formatBytes(doneBytes)}  ${formatBytes(doneBytes / Math.max(seconds, 0.001))}/s`);
    },
    done: (summary) => {
      const label = this.progressLabel;
      this.clearProgress();
      this.progressLabel = undefined;
      if (label !== undefined && summary !== undefined) this.logger.info(summary);
    },
  };

  line(message: string, level: 'info' | 'warning' | 'debug' | 'error' = 'info', fields: Record<string, unknown> = {}): void {
    this.clearProgress();
    const text = this.redactor.redact(message);
    if (this.options.logFormat === 'json') {
      process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg: text, ...fields })}\n`);
      return;
    }
    const shown = level === 'warning' ? `warning: ${text}` : text;
    if (this.tty) process.stderr.write(`${shown}\n`);
    else process.stderr.write(`${new Date().toISOString()} ${shown}\n`);
    if (this.progressLabel !== undefined) this.draw(this.progressLabel);
  }

  private draw(text: string): void {
    if (!this.tty || this.options.quiet) return;
    const width = process.stderr.columns ?? 80;
    process.stderr.write(`\r\x1b[2K${this.redactor.redact(text).slice(0, width - 1)}`);
  }

  private clearProgress(): void {
    if (this.tty && this.progressLabel !== undefined && !this.options.quiet) process.stderr.write('\r\x1b[2K');
  }
}

/** A plain text table with left-aligned columns. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [format(headers), ...rows.map(format)].join('\n');
}
