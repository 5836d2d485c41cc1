import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";

// How jobguard proves who it is: a password in clear text (over TLS, one
// hopes), md5, or SCRAM-SHA-256 (RFC 5802 and 7677, PostgreSQL's default
// since 14) without channel binding, as node-postgres and libpq's default
// (channel_binding=prefer, but without it when the server does not require
// it) do. Pure but for the randomness.

const derive = promisify(pbkdf2);

/** The md5 answer: "md5" + md5(md5(password + user) + salt), in hex. */
export function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash("md5")
    .update(password + user)
    .digest("hex");
  return (
    "md5" +
    createHash("md5")
      .update(Buffer.concat([Buffer.from(inner), salt]))
      .digest("hex")
  );
}

export const SCRAM = "SCRAM-SHA-256";

// About a second of one core; PostgreSQL's scram_iterations (16 and later) may go higher, and has no reason to.
const MAX_ITERATIONS = 1_000_000;

/** One SCRAM-SHA-256 exchange, message by message. */
export class ScramExchange {
  private readonly clientFirstBare: string;
  private serverSignature: Buffer | undefined;

  /**
   * PostgreSQL takes the user from the startup message and ignores SCRAM's,
   * hence `*`; the user and the nonce are parameters for RFC 7677's example.
   */
  constructor(
    private readonly password: string,
    private readonly nonce = randomBytes(18).toString("base64"),
    user = "*",
  ) {
    this.clientFirstBare = `n=${user},r=${nonce}`;
  }

  /** The client-first-message: no channel binding (gs2 "n,,"). */
  first(): string {
    return `n,,${this.clientFirstBare}`;
  }

  /** The client-final-message, with the proof, for the server-first-message. */
  async final(serverFirst: string): Promise<string> {
    const attributes = scramAttributes(serverFirst);
    const serverNonce = attributes.get("r");
    const salt = attributes.get("s");
    const iterations = Number(attributes.get("i"));
    if (!serverNonce?.startsWith(this.nonce) || serverNonce.length === this.nonce.length)
      throw new Error("SCRAM: the server's nonce does not extend jobguard's");
    if (!salt || !Number.isInteger(iterations) || iterations < 1)
      throw new Error("SCRAM: the server sent no salt or iteration count");
    // PostgreSQL's default is 4096. A count in the billions would hold a thread
    // of Node's pool for days, past any time limit (the derivation cannot be
    // stopped), and with four such, every file read and DNS lookup of jobguard's.
    if (iterations > MAX_ITERATIONS)
      throw new Error(
        `SCRAM: the server asks for ${iterations} iterations, more than jobguard does (${MAX_ITERATIONS})`,
      );
    const salted = await derive(this.password, Buffer.from(salt, "base64"), iterations, 32, "sha256");
    const clientKey = hmac(salted, "Client Key");
    const storedKey = createHash("sha256").update(clientKey).digest();
    const withoutProof = `c=biws,r=${serverNonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]!));
    this.serverSignature = hmac(hmac(salted, "Server Key"), authMessage);
    return `${withoutProof},p=${proof.toString("base64")}`;
  }

  /** Checks the server-final-message: a server that cannot prove it knows the password is refused. */
  verify(serverFinal: string): void {
    const attributes = scramAttributes(serverFinal);
    if (attributes.has("e")) throw new Error(`SCRAM: the server refused: ${attributes.get("e")}`);
    const signature = Buffer.from(attributes.get("v") ?? "", "base64");
    if (
      !this.serverSignature ||
      signature.length !== this.serverSignature.length ||
      !timingSafeEqual(signature, this.serverSignature)
    )
      throw new Error("SCRAM: the server's signature is wrong");
  }
}

function hmac(key: Buffer, text: string): Buffer {
  return createHmac("sha256", key).update(text).digest();
}

/** `a=1,b=2` → a map; a value may itself hold `=` (base64). */
function scramAttributes(message: string): Map<string, string> {
  return new Map(
    message.split(",").map((part) => [part.slice(0, part.indexOf("=")), part.slice(part.indexOf("=") + 1)]),
  );
}
