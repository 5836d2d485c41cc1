import type { Client } from "../postgres/client.js";
import type { QueueConfig } from "../config/config.js";
import { KeptConnection } from "../db/kept-connection.js";
import { describeDatabase, safeMessage } from "../db/redact.js";

const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens a command's connection to the queue's database, runs `work` on it
 * within limitMs, and closes it. A failure to connect, or of `work`, is one
 * line after `prefix`, with no password or URL in it, and exit status 1.
 */
export async function withCommandConnection(
  queue: QueueConfig,
  env: NodeJS.ProcessEnv,
  limitMs: number,
  prefix: string,
  out: (line: string) => void,
  work: (client: Client) => Promise<number>,
): Promise<number> {
  const connection = new KeptConnection(queue.databaseUrl, env);
  try {
    await connection.warm(CONNECT_TIMEOUT_MS);
  } catch (error) {
    out(
      `${prefix}cannot connect to ${describeDatabase(queue.databaseUrl)}: ${safeMessage(error, queue.databaseUrl)}`,
    );
    connection.close();
    return 1;
  }
  try {
    return await connection.use(limitMs, work);
  } catch (error) {
    out(`${prefix}${safeMessage(error, queue.databaseUrl)}`);
    return 1;
  } finally {
    connection.close();
  }
}
