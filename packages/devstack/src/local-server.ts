import type { ProcessExit } from './child-processes.js';

/** A server this process started on the local machine. */
export interface LocalServer {
  /** Connection URL (`nats://…` or `postgres://…`), on 127.0.0.1. */
  url: string;
  port: number;
  /** The server's process (PostgreSQL's postmaster). */
  pid: number;
  /** Resolves when the server's process has ended, whether stopped or died. */
  exited: Promise<ProcessExit>;
  /** The last lines the server wrote. */
  logs(): string;
  /** Stops the server and waits until it has exited. Safe to call more than once. */
  stop(): Promise<void>;
}
