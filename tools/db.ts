import pg from "pg";

/**
 * Runs `fn` with a connected pg client for `url`, always closing the client
 * afterwards; `options` adds client settings (a probe's timeouts).
 */
export async function withClient<T>(
  url: string,
  fn: (client: pg.Client) => Promise<T>,
  options: Omit<pg.ClientConfig, "connectionString"> = {},
): Promise<T> {
  const client = new pg.Client({ ...options, connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
