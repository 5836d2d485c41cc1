import { createServer, connect, type Server, type Socket } from "node:net";

/** A TCP proxy to the database that can be switched off, dropping every connection, and on again. */
export interface Proxy {
  port: number;
  /** The URL through the proxy, with a password that must never show in a log. */
  url: string;
  password: string;
  close(): void;
  reopen(): Promise<void>;
}

/** Starts a proxy in front of the database at `databaseUrl`. */
export async function tcpProxy(databaseUrl: string): Promise<Proxy> {
  const target = new URL(databaseUrl);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async (port: number) => {
    server = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
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
      for (const s of sockets) s.destroy();
    },
    async reopen() {
      await listen(port);
    },
  };
}
