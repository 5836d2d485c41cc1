/**
 * A copy of `env` without what would change how a jobguard started from it
 * behaves: the caller's settings (JOBGUARD_*) and DYNO, which `auto` reads,
 * and the variables in `also`. JOBGUARD_TREE stays: it is the marker an outer
 * jobguard gave this process, and that jobguard must still find what this one
 * starts.
 */
export function withoutJobguardSettings(
  env: NodeJS.ProcessEnv = process.env,
  also: readonly string[] = [],
): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    const setting = key.startsWith("JOBGUARD_") && key !== "JOBGUARD_TREE";
    if (!setting && key !== "DYNO" && !also.includes(key)) clean[key] = value;
  }
  return clean;
}
