/** A server this process started on the local machine. */
export interface LocalServer {
  /** Connection URL (`nats://…` or `postgres://…`), on 127.0.0.1. */
  url: string;
  port: number;
  /** The last lines the server wrote. */
  logs(): string;
  /** Stops the server and waits until it has exited. Safe to call more than once. */
  stop(): Promise<void>;
}
