import assert from "node:assert/strict";
import { test } from "node:test";
import { md5Password, ScramExchange } from "../../../src/postgres/auth.js";
import { extendedQuery, MessageReader, startup } from "../../../src/postgres/messages.js";
import { escapeLiteral, parserFor, toParameter } from "../../../src/postgres/values.js";

// src/postgres/ in process: what the protocol and the values need to get
// exactly right, one case each. test/db/postgres-client.test.ts connects it
// to a real server (TLS, SCRAM, md5, a password in clear).

test("SCRAM-SHA-256: RFC 7677's example, message for message, and a forged server signature refused", async () => {
  const scram = new ScramExchange("pencil", "rOprNGfwEbeRWgbNEkqO", "user");
  assert.equal(scram.first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  const serverFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
  assert.equal(
    await scram.final(serverFirst),
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  );
  scram.verify("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  assert.throws(() => scram.verify("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="), /signature is wrong/);
  // A server nonce that does not extend the client's is an impostor's.
  const other = new ScramExchange("pencil", "abc", "user");
  await assert.rejects(other.final("r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"), /nonce/);
  // An iteration count that would hold a thread for days is refused before any work.
  await assert.rejects(
    other.final("r=abc123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2147483647"),
    /2147483647 iterations/,
  );
});

test('md5: md5(md5(password + user) + salt) in hex, after "md5" (computed apart with Python\'s hashlib)', () => {
  assert.equal(
    md5Password("alice", "secret", Buffer.from([1, 2, 3, 4])),
    "md598a0412b9c31436fc53776e863350083",
  );
});

test("messages: the reader cuts a stream into messages wherever its chunks end", () => {
  const seen: [string, string][] = [];
  const reader = new MessageReader((type, body) => {
    seen.push([String.fromCharCode(type), body.toString("hex")]);
  });
  const stream = Buffer.from([0x5a, 0, 0, 0, 5, 0x49, 0x43, 0, 0, 0, 6, 0x41, 0x00]);
  for (const byte of stream) reader.push(Buffer.from([byte]));
  assert.deepEqual(seen, [
    ["Z", "49"],
    ["C", "4100"],
  ]);
  assert.throws(() => reader.push(Buffer.from([0x44, 0, 0, 0, 2])), /length 2/);
  // A handler's false stops the reader there: the rest is kept for whoever reads on (the login hands it to the client).
  const stopping = new MessageReader((type) => type !== 0x5a);
  stopping.push(stream);
  assert.equal(stopping.rest().toString("hex"), "4300000006" + "4100");
  assert.throws(() => startup({ user: "a\0b" }), /NUL/);
  assert.throws(() => extendedQuery("SELECT $1\0", []), /NUL/);
});

test("parameters in text format: arrays quoted and escaped, NULL, dates in UTC, objects as JSON", () => {
  assert.equal(toParameter(null), null);
  assert.equal(toParameter(undefined), null);
  assert.equal(toParameter([1, 2]), '{"1","2"}');
  assert.equal(toParameter(['a"b', "c\\d", null, ["e"]]), '{"a\\"b","c\\\\d",NULL,{"e"}}');
  assert.equal(toParameter(new Date(Date.UTC(2026, 11, 7, 1, 2, 3, 4))), "2026-12-07T01:02:03.004Z");
  assert.equal(toParameter({ a: 1 }), '{"a":1}');
  assert.equal(toParameter(true), "true");
  assert.equal(escapeLiteral("it's"), "'it''s'");
  assert.equal(escapeLiteral("a\\b'"), "E'a\\\\b'''");
});

test("columns by type: node-postgres's JavaScript types, arrays of them, and text for the rest", () => {
  const read = (oid: number, text: string) => (parserFor(oid) ?? ((t: string) => t))(text);
  assert.equal(read(16, "t"), true);
  assert.equal(read(16, "f"), false);
  assert.equal(read(23, "-42"), -42);
  assert.equal(read(20, "9007199254740993"), "9007199254740993");
  assert.deepEqual(read(1009, '{a,"b c","d\\"e",NULL,"NULL"}'), ["a", "b c", 'd"e', null, "NULL"]);
  assert.deepEqual(read(1007, "{{1,2},{3,4}}"), [
    [1, 2],
    [3, 4],
  ]);
  assert.deepEqual(read(1007, "[0:1]={5,6}"), [5, 6]);
  assert.deepEqual(read(1009, "{}"), []);
  assert.deepEqual(read(3802, '{"k": [1]}'), { k: [1] });
  const at = (text: string) => (read(1184, text) as Date).toISOString();
  assert.equal(at("2026-12-07 10:00:00.123456+00"), "2026-12-07T10:00:00.123Z");
  assert.equal(at("2026-12-07 10:00:00+05:30"), "2026-12-07T04:30:00.000Z");
  assert.equal(at("2026-12-07 10:00:00-03"), "2026-12-07T13:00:00.000Z");
  assert.equal(read(1184, "infinity"), "infinity");
  assert.equal(at("0099-01-02 03:04:05+00"), "0099-01-02T03:04:05.000Z");
  // Without a zone: local time, as node-postgres reads it.
  assert.equal(
    (read(1114, "2026-12-07 10:00:00.5") as Date).getTime(),
    new Date(2026, 11, 7, 10, 0, 0, 500).getTime(),
  );
  assert.equal(read(25, "text"), "text");
});
