import { pino, type Logger } from 'pino';

/** `pretty`: one readable line per entry, for a person; `json`: pino's JSON lines, for machines. */
export type LogFormat = 'pretty' | 'json';

/** `LOG_FORMAT` when set (`json` or `pretty`), otherwise pretty on a terminal and JSON elsewhere. */
export function chooseLogFormat(value: string | undefined, isTTY: boolean): LogFormat {
  const wanted = value?.trim().toLowerCase();
  if (!wanted) return isTTY ? 'pretty' : 'json';
  if (wanted === 'json' || wanted === 'pretty') return wanted;
  throw new Error(`LOG_FORMAT must be json or pretty, not "${value}"`);
}

/** Where a process writes its log lines: stdout, or a stream in a test. */
export type LogDestination = NodeJS.WritableStream & { isTTY?: boolean };

export interface ProcessLoggerOptions {
  /** `service` in every line (`gateway`, `chat`, …). */
  service: string;
  /** `instance` in every line (`INSTANCE_ID`). */
  instance: string;
  level: string;
  /** `LOG_FORMAT`: `json` or `pretty`; unset, pretty when `destination` is a terminal and JSON otherwise. */
  format?: string | undefined;
  /** Default stdout. */
  destination?: LogDestination;
}

/**
 * A process's logger (each service's and the gateway's). JSON lines, as every log collector and
 * `npm start` read them, unless the process writes to a terminal (someone ran
 * `node services/chat/dist/main.js` or `npm start -w services/gateway` by hand) or `LOG_FORMAT=pretty`
 * asks: then one readable line per entry (pino-pretty, loaded only then), with the same fields.
 * Under `npm start` a process writes to a pipe, so JSON, which `npm start` formats itself.
 */
export async function createProcessLogger(opts: ProcessLoggerOptions): Promise<Logger> {
  const out: LogDestination = opts.destination ?? process.stdout;
  const format = chooseLogFormat(opts.format, Boolean(out.isTTY));
  const options = { level: opts.level, base: { service: opts.service, instance: opts.instance } };
  if (format === 'json') return opts.destination ? pino(options, opts.destination) : pino(options);
  const { default: pretty } = await import('pino-pretty');
  return pino(
    options,
    pretty({
      // Lines written as they are logged, as pino's own stdout destination does: none lost at exit.
      destination: opts.destination ?? 1,
      sync: true,
      colorize: Boolean(out.isTTY),
      translateTime: 'SYS:HH:MM:ss.l',
      messageFormat: '{service} | {msg}',
      ignore: 'pid,hostname,service,instance',
      singleLine: true,
    }),
  );
}
