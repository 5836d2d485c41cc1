import { randomBytes } from "node:crypto";
import { after } from "node:test";
import { withClient } from "../../tools/db.js";
import { testServerUrl } from "./db.js";

/** A login role of a test's own, without privileges but those granted to it. */
export interface TestRole {
  /** Its name, safe to write unquoted in SQL. */
  name: string;
  /** This database URL, logging in as the role. */
  url(databaseUrl: string): string;
  /** Drops what it was granted in the database, and the role. */
  drop(): Promise<void>;
}

/**
 * Creates a login role with a password on the test server, dropped after the
 * test that made it (or, with `dropAfterTest: false`, when the caller drops
 * it), with what it was granted in `databaseUrl`. Roles belong to the whole
 * server, so the name is unique to this process.
 */
export async function createRole(databaseUrl: string, { dropAfterTest = true } = {}): Promise<TestRole> {
  const name = `jobguard_role_${process.pid}_${randomBytes(3).toString("hex")}`;
  const password = randomBytes(12).toString("hex");
  await withClient(testServerUrl(), (c) => c.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`));
  const drop = async () => {
    await withClient(databaseUrl, (c) => c.query(`DROP OWNED BY ${name}`)).catch(() => {});
    await withClient(testServerUrl(), (c) => c.query(`DROP ROLE IF EXISTS ${name}`));
  };
  if (dropAfterTest) after(drop);
  return {
    drop,
    name,
    url(url) {
      const u = new URL(url);
      u.username = name;
      u.password = password;
      return u.toString();
    },
  };
}
