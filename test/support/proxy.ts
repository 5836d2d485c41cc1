import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * A TCP proxy to the database that can be switched off, dropping every
 * connection, and on again; or frozen: connections stay open but nothing
 * passes, as when a NAT forgets a connection or a network drops packets.
 */
export interface Proxy {
  port: number;
  /** The URL through the proxy, with a password that must never show in a log. */
  url: string;
  password: string;
  close(): void;
  reopen(): Promise<void>;
  /**
   * Stops forwarding on the open connections, which stay open and silent.
   * `"open"` freezes those alone, and new connections work; `"all"` freezes
   * new ones too: they are accepted and never answered.
   */
  freeze(which: "open" | "all"): void;
  /** Forwards again, on every connection. */
  thaw(): void;
  /**
   * Drops every connection and sends new ones to the server at `databaseUrl`,
   * as a failover that moves the database's address does.
   */
  retarget(databaseUrl: string): void;
  /** Connections accepted so far. */
  accepted(): number;
}

/** A client's connection and its own to the database. */
interface Pair {
  client: Socket;
  upstream: Socket;
  flowing: boolean;
}

/** Starts a proxy in front of the database at `databaseUrl`. */
export async function tcpProxy(databaseUrl: string): Promise<Proxy> {
  let target = new URL(databaseUrl);
  const pairs = new Set<Pair>();
  let server: Server | undefined;
  let freezeNew = false;
  let accepted = 0;
  const flow = (pair: Pair) => {
    if (pair.flowing) return;
    pair.flowing = true;
    pair.client.pipe(pair.upstream);
    pair.upstream.pipe(pair.client);
  };
  const stop = (pair: Pair) => {
    pair.flowing = false;
    pair.client.unpipe(pair.upstream);
    pair.upstream.unpipe(pair.client);
    pair.client.pause();
    pair.upstream.pause();
  };
  const listen = async (port: number) => {
    server = createServer((client) => {
      accepted++;
      const upstream = connect(Number(target.port || 5432), target.hostname);
      const pair: Pair = { client, upstream, flowing: false };
      pairs.add(pair);
      // A server that refuses the connection: the client's is reset, not left silent.
      let connected = false;
      upstream.once("connect", () => (connected = true));
      upstream.once("error", () => connected || client.destroy());
      for (const s of [client, upstream]) {
        s.on("error", () => {});
        s.on("close", () => {
          pairs.delete(pair);
          // A flowing pair closes the other side through pipe(), after what is in flight.
          if (!pair.flowing) for (const other of [client, upstream]) other.destroy();
        });
      }
      if (freezeNew) stop(pair);
      else flow(pair);
    });
    await new Promise<void>((done) => server!.listen(port, "127.0.0.1", done));
    return (server.address() as { port: number }).port;
  };
  const port = await listen(0);
  const url = new URL(databaseUrl);
  url.port = String(port);
  // A server that trusts local connections takes any password: give the URL one to hide.
  if (!url.password) url.password = "s3cret-pw";
  return {
    port,
    url: url.toString(),
    password: decodeURIComponent(url.password),
    close() {
      server?.close();
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
    },
    async reopen() {
      await listen(port);
    },
    freeze(which) {
      for (const pair of pairs) stop(pair);
      freezeNew = which === "all";
    },
    thaw() {
      freezeNew = false;
      for (const pair of pairs) flow(pair);
    },
    retarget(databaseUrl) {
      target = new URL(databaseUrl);
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
    },
    accepted: () => accepted,
  };
}
