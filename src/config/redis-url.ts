import { redisTarget } from "../redis/options.js";
import { UsageError, type OptionKey, type RawValue } from "./options.js";

/**
 * The Redis URL of a queue in Redis: JOBGUARD_REDIS_URL, else REDIS_URL (the
 * name Heroku Redis and most hosts give it), checked without connecting so
 * that a URL jobguard cannot use stops it before the worker starts. Never
 * echoes the URL: it carries the password.
 */
export function redisUrl(
  raw: Partial<Record<OptionKey, RawValue>>,
  env: NodeJS.ProcessEnv,
  kind: string,
): RawValue {
  if (raw.databaseUrl)
    throw new UsageError(
      `${raw.databaseUrl.source} is not used with ${raw.queue!.source}=${kind}: its jobs are in Redis (JOBGUARD_REDIS_URL)`,
    );
  const url: RawValue | undefined =
    raw.redisUrl ?? (env.REDIS_URL ? { value: env.REDIS_URL, source: "REDIS_URL" } : undefined);
  if (!url)
    throw new UsageError(`${raw.queue!.source}=${kind} needs Redis: set JOBGUARD_REDIS_URL or REDIS_URL`);
  try {
    redisTarget(url.value);
  } catch (error) {
    throw new UsageError(`${url.source} ${(error as Error).message}`);
  }
  return url;
}
