import type { Logger, ProgressReporter } from '../../stores/index.js';
import type { Redactor } from '../../config/index.js';
import { formatBytes, formatDuration } from '../../util/format.js';
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
  private step: ProgressStep | undefined;
  private pendingJson: object | undefined;
  private lastDraw = 0;
  private ticker: NodeJS.Timeout | undefined;

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
    start: (label, totalBytes, options) => {
      this.clearProgress();
      this.step = { label, started: Date.now(), total: totalBytes, estimate: options?.estimate === true, done: undefined, detail: undefined };
      if (!this.tty && !this.options.quiet) this.line(`${label} …`);
      else this.redraw();
      // Silent stretches (a tool that reports nothing) still show the clock moving.
      if (this.tty && this.ticker === undefined) {
        this.ticker = setInterval(() => this.redraw(), 1000);
        this.ticker.unref();
      }
    },
    update: (doneBytes, detail) => {
      if (this.step === undefined) return;
      // The first figures of a step are drawn at once: a step that ends within the throttle would otherwise never show them.
      const first = this.step.done === undefined;
      this.step.done = doneBytes;
      if (detail !== undefined) this.step.detail = detail;
      const now = Date.now();
      if (!first && now - this.lastDraw < 100) return;
      this.redraw();
    },
    done: (summary) => {
      const had = this.step !== undefined;
      this.clear();
      if (had && summary !== undefined) this.logger.info(summary);
    },
  };

  /** Removes the progress line and stops redrawing it: before an error is printed. */
  clear(): void {
    this.clearProgress();
    this.step = undefined;
    if (this.ticker !== undefined) clearInterval(this.ticker);
    this.ticker = undefined;
  }

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
    this.redraw();
  }

  private redraw(): void {
    if (this.step === undefined || !this.tty || this.options.quiet) return;
    this.lastDraw = Date.now();
    // A pseudo-terminal without a size reports 0 columns: then COLUMNS, else 80.
    const width = process.stderr.columns || Number(process.env.COLUMNS) || 80;
    process.stderr.write(`\r\x1b[2K${this.redactor.redact(progressText(this.step, Date.now(), width - 1))}`);
  }

  private clearProgress(): void {
    if (this.tty && this.step !== undefined && !this.options.quiet) process.stderr.write('\r\x1b[2K');
  }
}

interface ProgressStep {
  label: string;
  started: number;
  total: number | undefined;
  estimate: boolean;
  done: number | undefined;
  detail: string | undefined;
}

/**
 * One progress line, at most `width` long: `pg_dump … 42 MB  12 MB/s  ~37%  ETA 8 s  table public.recipes  4 s`. An
 * estimated total never shows 100% before the step ends; a step without bytes shows its clock.
 */
export function progressText(step: ProgressStep, now: number, width: number): string {
  const seconds = Math.max((now - step.started) / 1000, 0.001);
  const parts: string[] = [];
  if (step.done !== undefined) {
    const rate = step.done / seconds;
    parts.push(formatBytes(step.done), `${formatBytes(Math.round(rate))}/s`);
    if (step.total !== undefined && step.total > 0) {
      const share = Math.min(step.done / step.total, step.estimate ? 0.99 : 1);
      parts.push(`${step.estimate ? '~' : ''}${Math.floor(share * 100)}%`);
      if (rate > 0 && step.done < step.total) parts.push(`ETA ${clock((step.total - step.done) / rate)}`);
    }
  }
  if (step.detail !== undefined) parts.push(step.detail);
  parts.push(clock(seconds));
  // On a narrow terminal the label gives way, so the figures stay in sight.
  const figures = parts.join('  ');
  const room = width - figures.length - 2;
  const label = step.label.length <= room ? step.label : `${step.label.slice(0, Math.max(room - 1, 0))}…`;
  return `${label}  ${figures}`.slice(0, width);
}

function clock(seconds: number): string {
  return seconds < 90 ? `${Math.ceil(seconds)} s` : formatDuration(seconds);
}

/** A plain text table with left-aligned columns. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [format(headers), ...rows.map(format)].join('\n');
}
