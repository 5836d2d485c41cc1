import type { Client } from "pg";
import { connectAsJobguard } from "./connect.js";

/** A connection jobguard keeps (the release's, the lease's): opened on first use, reopened after it drops. */
export class Database {
  private client: Promise<Client> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly url: string,
    private readonly env: NodeJS.ProcessEnv,
    /** Runs on every new connection before it is handed out (preparing statements). */
    private readonly onOpen: (client: Client) => Promise<void> = async () => {},
    /** Client-side limit on one statement; 0 for none. */
    private readonly queryTimeoutMs = 0,
  ) {}

  /** The open connection, or a new one that must connect within timeoutMs. */
  get(timeoutMs: number): Promise<Client> {
    this.client ??= this.open(timeoutMs);
    return this.client;
  }

  /**
   * Runs fn with the connection, one user at a time: a heartbeat must not land
   * inside a sweep's transaction.
   */
  use<T>(timeoutMs: number, fn: (client: Client) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => fn(await this.get(timeoutMs)));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Forgets the current connection after an error; the next get() reconnects. */
  reset(): void {
    void this.client?.then((c) => c.end()).catch(() => {});
    this.client = undefined;
  }

  private async open(timeoutMs: number): Promise<Client> {
    let client: Client | undefined;
    try {
      client = await connectAsJobguard(this.url, this.env, timeoutMs, this.queryTimeoutMs);
      // An idle connection may drop while the worker runs: the next use reopens it.
      client.on("error", () => this.reset());
      await this.onOpen(client);
      return client;
    } catch (error) {
      void client?.end().catch(() => {});
      this.client = undefined;
      throw error;
    }
  }
}
