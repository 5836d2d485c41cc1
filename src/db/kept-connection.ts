import type { Connection as Client } from "../postgres/client.js";
import { connectAsJobguard } from "./connect.js";

/** One connection of a KeptConnection: the client, once connected, and the switch that destroys its socket. */
interface Connection {
  client: Promise<Client>;
  abort: AbortController;
  /** The client once connected and ready. */
  ready?: Client;
}

/**
 * A connection jobguard keeps (the release's, the lease's): opened on first
 * use, and dropped for a new one whenever a use of it fails or runs over its
 * time. A connection can go silent without a word (a NAT that forgot it, a
 * failover, a network that drops packets): TCP then waits minutes before it
 * gives up, while a new connection would work at once.
 */
export class KeptConnection {
  private current: Connection | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Uses queued or running: the connection is closed after the last one when it is not kept. */
  private pending = 0;

  constructor(
    private readonly url: string,
    private readonly env: NodeJS.ProcessEnv,
    /** Runs on every new connection before it is handed out (preparing statements). */
    private readonly onOpen: (client: Client) => Promise<void> = async () => {},
    /**
     * False: close the connection once no use is waiting, so that an idle
     * jobguard holds none between heartbeats (JOBGUARD_CONNECTION=per-heartbeat).
     */
    private readonly keep = true,
  ) {}

  /** Opens the connection ahead of its first use, so that the use costs one round trip; it must connect within limitMs. */
  async warm(limitMs: number): Promise<void> {
    await this.connection(limitMs).client;
  }

  /**
   * Runs fn with the connection, one user at a time (a heartbeat must not land
   * inside a sweep's transaction). Once its turn comes, fn has limitMs, a
   * connect included: past that, or when fn fails, its connection is
   * destroyed rather than ended (a silent one would never answer the goodbye)
   * and forgotten, so the next use starts on a new one.
   */
  use<T>(limitMs: number, fn: (client: Client) => Promise<T>): Promise<T> {
    this.pending++;
    const run = this.queue
      .then(() => this.attempt(limitMs, fn))
      .finally(() => {
        if (--this.pending === 0 && !this.keep) this.close();
      });
    this.queue = run.catch(() => {});
    return run;
  }

  /** Ends the connection, politely where it is up and idle: jobguard is done with the database. */
  close(): void {
    const connection = this.current;
    if (!connection) return;
    this.current = undefined;
    // One still connecting (perhaps to a silent server) is destroyed; end()
    // destroys one that has not closed a second after its goodbye.
    if (connection.ready) void connection.ready.end().catch(() => {});
    else connection.abort.abort();
  }

  private async attempt<T>(limitMs: number, fn: (client: Client) => Promise<T>): Promise<T> {
    const connection = this.connection(limitMs);
    let timer: NodeJS.Timeout | undefined;
    const overrun = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(noAnswer(limitMs)), Math.max(0, limitMs));
    });
    try {
      return await Promise.race([connection.client.then(fn), overrun]);
    } catch (error) {
      // Destroying the socket also ends fn: its pending query fails at once.
      this.discard(connection);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  private connection(limitMs: number): Connection {
    if (this.current) return this.current;
    const connection = { abort: new AbortController() } as Connection;
    connection.client = this.open(connection, limitMs);
    // A warm-up may have no one waiting on it; the use that comes next sees the failure.
    connection.client.catch(() => {});
    this.current = connection;
    return connection;
  }

  private async open(connection: Connection, limitMs: number): Promise<Client> {
    try {
      const client = await connectAsJobguard(this.url, this.env, limitMs, connection.abort.signal);
      // An idle connection may drop while the worker runs. The handler drops
      // this connection only: by the time it fires, another may be current.
      client.on("error", () => this.discard(connection));
      await this.onOpen(client);
      connection.ready = client;
      return client;
    } catch (error) {
      this.discard(connection);
      throw error;
    }
  }

  private discard(connection: Connection): void {
    if (this.current === connection) this.current = undefined;
    connection.abort.abort();
  }
}

/** The error of a use that ran over its time; ETIMEDOUT, so that retries treat it as the network trouble it is. */
function noAnswer(limitMs: number): Error {
  const error = new Error(
    `no answer from the database within ${Math.round(limitMs)} ms; the connection was dropped`,
  );
  return Object.assign(error, { code: "ETIMEDOUT" });
}
