import { randomInt } from "node:crypto";

// `npm run soak -- [--duration S] [--dynos N] [--seed N] [--drain S] [--logs DIR]`

export interface SoakOptions {
  /** Seconds of faults; jobs are enqueued all along. */
  durationS: number;
  dynos: number;
  seed: number;
  /** The longest the soak waits, once the faults stop, for every job to be done. */
  drainS: number;
  /** Where the dynos' logs and the job events go; by default a temporary directory, kept on a violation. */
  logs: string | undefined;
}

export const USAGE = `Usage: npm run soak -- [options]
  --duration SECONDS  how long faults are injected (default 300)
  --dynos N           simulated dynos, 2 to 9 (default 3)
  --seed N            the random choices' seed (default: a random one, printed)
  --drain SECONDS     the longest to wait afterwards for every job to be done (default 120)
  --logs DIR          keep the dynos' logs, the job events and the faults in DIR`;

/** The options, or a sentence saying what is wrong with them. */
export function parseOptions(argv: string[]): SoakOptions | string {
  const options: SoakOptions = {
    durationS: 300,
    dynos: 3,
    seed: randomInt(2 ** 31),
    drainS: 120,
    logs: undefined,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i]!, argv[i + 1]];
    if (value === undefined) return `${flag} needs a value`;
    const n = Number(value);
    const count = Number.isInteger(n) && n >= 0;
    switch (flag) {
      case "--duration":
        if (!(n > 0)) return `--duration must be a positive number of seconds, not ${value}`;
        options.durationS = n;
        break;
      case "--dynos":
        if (!count || n < 2 || n > 9) return `--dynos must be a whole number from 2 to 9, not ${value}`;
        options.dynos = n;
        break;
      case "--seed":
        if (!count) return `--seed must be a whole number, not ${value}`;
        options.seed = n;
        break;
      case "--drain":
        if (!(n > 0)) return `--drain must be a positive number of seconds, not ${value}`;
        options.drainS = n;
        break;
      case "--logs":
        options.logs = value;
        break;
      default:
        return `unknown option ${flag}`;
    }
  }
  return options;
}
