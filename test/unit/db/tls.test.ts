import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { sslModeOf, tlsOptions, withSharedContext } from "../../../src/db/tls.js";

// TLS by libpq's rules, in process: no database.

test("sslmode: the URL's wins over PGSSLMODE, and none at all means prefer, as in libpq", () => {
  assert.equal(sslModeOf("postgres://h/db", {}), "prefer");
  assert.equal(sslModeOf("postgres://h/db", { PGSSLMODE: "require" }), "require");
  assert.equal(sslModeOf("postgres://h/db?sslmode=disable", { PGSSLMODE: "require" }), "disable");
  assert.equal(sslModeOf("postgres://h/db", { PGSSLMODE: "" }), "prefer");
  assert.throws(() => sslModeOf("postgres://h/db?sslmode=maybe", {}), /unknown sslmode "maybe"/);
});

test("sslmode to TLS options: require encrypts without verifying, verify-ca skips the host name, verify-full checks both", async () => {
  const noParams = new URLSearchParams();
  for (const mode of ["prefer", "allow", "require", "no-verify"] as const) {
    assert.deepEqual(await tlsOptions(mode, noParams), { rejectUnauthorized: false }, mode);
  }
  assert.deepEqual(await tlsOptions("verify-full", noParams), {});
  const verifyCa = await tlsOptions("verify-ca", noParams);
  assert.equal(verifyCa.rejectUnauthorized, undefined);
  assert.equal(verifyCa.checkServerIdentity?.("h", {} as never), undefined);

  const ca = join(mkdtempSync(join(tmpdir(), "jobguard-unit-")), "root.crt");
  writeFileSync(ca, "ROOT CERTIFICATE");
  const withRoot = new URLSearchParams({ sslrootcert: ca });
  // libpq: require with a root certificate verifies the chain, as verify-ca does.
  const requireWithRoot = await tlsOptions("require", withRoot);
  assert.equal(requireWithRoot.ca, "ROOT CERTIFICATE");
  assert.equal(requireWithRoot.rejectUnauthorized, undefined);
  assert.equal(typeof requireWithRoot.checkServerIdentity, "function");
  assert.deepEqual(await tlsOptions("verify-full", withRoot), { ca: "ROOT CERTIFICATE" });
});

test("one secure context for every connection while the certificates read the same", async () => {
  const first = await withSharedContext({ rejectUnauthorized: false });
  const second = await withSharedContext({ rejectUnauthorized: false });
  assert.ok(first.secureContext);
  assert.equal(second.secureContext, first.secureContext);
  assert.equal(second.rejectUnauthorized, false);
  // Other certificates make a context of their own, as a root renewed on disk would.
  const other = await withSharedContext({ ca: "ANOTHER ROOT" });
  assert.notEqual(other.secureContext, first.secureContext);
  assert.equal(other.ca, "ANOTHER ROOT");
  assert.notEqual((await withSharedContext({})).secureContext, other.secureContext);
});
