import { prettyFactory } from 'pino-pretty';
import type { LogFormat } from '@siteflow/telemetry';

// One rule for every process: the services and the gateway choose their own format the same way.
export { chooseLogFormat, type LogFormat } from '@siteflow/telemetry';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const PINO_LEVELS: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };

const COLORS: Record<string, number> = {
  chat: 36,
  documents: 35,
  presence: 32,
  checklist: 33,
  gateway: 34,
  nats: 92,
  postgres: 94,
  start: 90,
};

/**
 * Formats the log lines of the processes `npm start` runs, and its own, in one format: each
 * process's pino JSON lines become one readable line (`pretty`) or pass through unchanged
 * (`json`); other output (a stack trace, a message printed before the logger existed) is shown
 * as it is, or wrapped into a JSON entry.
 */
export class ProcessLogFormatter {
  private readonly pretty: ((entry: string | object) => string) | undefined;

  constructor(
    readonly format: LogFormat,
    private readonly colors = false,
  ) {
    this.pretty =
      format === 'pretty'
        ? prettyFactory({
            colorize: colors,
            translateTime: 'SYS:HH:MM:ss.l',
            // The prefix names the process already.
            ignore: 'pid,hostname,service,instance',
            singleLine: true,
          })
        : undefined;
  }

  /** One line `source` wrote (without its newline) → the text to print (with its newline). */
  processLine(source: string, line: string): string {
    const entry = parseLogEntry(line);
    if (this.format === 'json') {
      return entry ? `${line}\n` : `${JSON.stringify({ level: PINO_LEVELS.info, time: Date.now(), service: source, msg: line })}\n`;
    }
    return `${this.prefix(source)}${entry && this.pretty ? this.pretty(entry) : `${line}\n`}`;
  }

  /** A line of `npm start`'s own about `source`. */
  ownLine(source: string, level: LogLevel, message: string): string {
    if (this.format === 'json') {
      return `${JSON.stringify({ level: PINO_LEVELS[level], time: Date.now(), service: 'start', ...(source === 'start' ? {} : { process: source }), msg: message })}\n`;
    }
    return this.processLine(source, JSON.stringify({ level: PINO_LEVELS[level], time: Date.now(), msg: message }));
  }

  private prefix(source: string): string {
    const label = source.padEnd(9);
    return this.colors ? `\x1b[${COLORS[source] ?? 0}m${label}\x1b[0m | ` : `${label} | `;
  }
}

/** A pino JSON entry (an object with a numeric level), or undefined for any other line. */
function parseLogEntry(line: string): object | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && typeof (value as { level?: unknown }).level === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}
