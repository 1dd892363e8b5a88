/**
 * SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka uses them: the server side of
 * the exchange as a small state machine, and the stored credential (salt, iterations, StoredKey,
 * ServerKey), from which the password cannot be recovered. Nonces come from an injected source,
 * so a test can replay the RFC's example exchange byte for byte.
 *
 * Exchange (one SaslAuthenticate round trip per step):
 * ```
 * client-first  = gs2-header client-first-bare     ; "n,," "n=user,r=cnonce"
 * server-first  = "r=" cnonce snonce ",s=" salt ",i=" iterations
 * client-final  = "c=" b64(gs2-header) ",r=" nonce ",p=" b64(ClientProof)
 * server-final  = "v=" b64(ServerSignature)
 * ```
 *
 * @module
 */

import { createHash, createHmac, pbkdf2, timingSafeEqual } from "node:crypto";

/** The SCRAM mechanisms, with Kafka's wire ids (AlterUserScramCredentials). */
export type ScramMechanism = "SCRAM-SHA-256" | "SCRAM-SHA-512";

/** Kafka's ScramMechanism enum on the wire. */
export const SCRAM_MECHANISM_IDS: Readonly<Record<ScramMechanism, number>> = {
  "SCRAM-SHA-256": 1,
  "SCRAM-SHA-512": 2,
};

/** Kafka's bounds on iterations (ScramMechanism.minIterations / maxIterations). */
export const SCRAM_ITERATIONS_MIN = 4096;
/** Kafka's upper bound on iterations. */
export const SCRAM_ITERATIONS_MAX = 16384;

/** What the broker keeps of a password: never the password or the salted password. */
export interface ScramCredential {
  readonly salt: Uint8Array;
  readonly iterations: number;
  readonly storedKey: Uint8Array;
  readonly serverKey: Uint8Array;
}

/** The failure of an exchange, with a message safe to send to the client. */
export class ScramError extends Error {
  readonly code = "SASL_AUTHENTICATION_FAILED";
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "ScramError";
  }
}

function _hash(m: ScramMechanism): "sha256" | "sha512" {
  return m === "SCRAM-SHA-256" ? "sha256" : "sha512";
}

function _hmac(m: ScramMechanism, key: Uint8Array, data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHmac(_hash(m), key).update(data).digest());
}

function _h(m: ScramMechanism, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(_hash(m)).update(data).digest());
}

/** SaltedPassword = Hi(password, salt, i): PBKDF2 with HMAC-H, one hash length long. */
export function saltedPassword(
  mechanism: ScramMechanism,
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<Uint8Array> {
  const len = mechanism === "SCRAM-SHA-256" ? 32 : 64;
  return new Promise((resolve, reject) =>
    pbkdf2(
      password.normalize("NFKC"),
      salt,
      iterations,
      len,
      _hash(mechanism),
      (err, key) => err ? reject(err) : resolve(new Uint8Array(key)),
    )
  );
}

/** The stored credential of a salted password (what AlterUserScramCredentials carries). */
export function credentialFromSalted(
  mechanism: ScramMechanism,
  salted: Uint8Array,
  salt: Uint8Array,
  iterations: number,
): ScramCredential {
  const clientKey = _hmac(mechanism, salted, "Client Key");
  return {
    salt,
    iterations,
    storedKey: _h(mechanism, clientKey),
    serverKey: _hmac(mechanism, salted, "Server Key"),
  };
}

/** Derives the stored credential of a password. */
export async function createCredential(
  mechanism: ScramMechanism,
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<ScramCredential> {
  const salted = await saltedPassword(mechanism, password, salt, iterations);
  return credentialFromSalted(mechanism, salted, salt, iterations);
}

/** Whether `password` matches `cred` (used by SASL PLAIN, which sends the password itself). */
export async function verifyPassword(
  mechanism: ScramMechanism,
  password: string,
  cred: ScramCredential,
): Promise<boolean> {
  const derived = await createCredential(mechanism, password, cred.salt, cred.iterations);
  return _equal(derived.storedKey, cred.storedKey);
}

function _equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Looks a user's credential up; null for an unknown user. */
export type CredentialLookup = (user: string) => ScramCredential | null;

/** Options of {@linkcode ScramServer}. */
export interface ScramServerOptions {
  /** The server's part of the nonce: printable ASCII without commas, fresh per exchange. */
  readonly nonce: () => string;
  /**
   * Credential presented for an unknown user, so the exchange fails at the proof like a wrong
   * password and does not reveal which users exist.
   */
  readonly decoy: (user: string) => ScramCredential;
}

type _State =
  | { step: "first" }
  | {
    step: "final";
    user: string;
    known: boolean;
    cred: ScramCredential;
    nonce: string;
    gs2Header: string;
    authMessagePrefix: string;
  }
  | { step: "done" };

/**
 * The server side of one SCRAM exchange. Feed it each client message with {@linkcode step}; it
 * returns the reply, and after the client-final message {@linkcode user} names who was
 * authenticated. Any failure throws {@linkcode ScramError} and ends the exchange.
 */
export class ScramServer {
  readonly #mechanism: ScramMechanism;
  readonly #lookup: CredentialLookup;
  readonly #options: ScramServerOptions;
  #state: _State = { step: "first" };
  #user: string | null = null;

  /** A server for one exchange of `mechanism`. */
  constructor(mechanism: ScramMechanism, lookup: CredentialLookup, options: ScramServerOptions) {
    this.#mechanism = mechanism;
    this.#lookup = lookup;
    this.#options = options;
  }

  /** The authenticated user once the exchange succeeded, else null. */
  get user(): string | null {
    return this.#user;
  }

  /** Whether the exchange has finished successfully. */
  get done(): boolean {
    return this.#state.step === "done" && this.#user !== null;
  }

  /** Consumes one client message and returns the server's reply. */
  step(message: string): string {
    const state = this.#state;
    this.#state = { step: "done" };
    if (state.step === "first") return this.#first(message);
    if (state.step === "final") return this.#final(state, message);
    throw new ScramError("Authentication failed: the SCRAM exchange is already complete");
  }

  #first(message: string): string {
    const m = /^([ny]|p=[^,]*),(a=[^,]*)?,(.*)$/.exec(message);
    if (m === null) throw new ScramError("Authentication failed: malformed SCRAM client-first");
    if (m[1]!.startsWith("p=")) {
      throw new ScramError("Authentication failed: channel binding is not supported");
    }
    const bare = m[3]!;
    const attrs = _attributes(bare);
    const name = attrs.get("n");
    const cnonce = attrs.get("r");
    if (name === undefined || cnonce === undefined || cnonce === "" || name === "") {
      throw new ScramError("Authentication failed: SCRAM client-first lacks n= or r=");
    }
    const user = _unescapeName(name);
    const found = this.#lookup(user);
    const cred = found ?? this.#options.decoy(user);
    const nonce = cnonce + this.#options.nonce();
    const serverFirst = `r=${nonce},s=${_b64(cred.salt)},i=${cred.iterations}`;
    this.#state = {
      step: "final",
      user,
      known: found !== null,
      cred,
      nonce,
      gs2Header: `${m[1]},${m[2] ?? ""},`,
      authMessagePrefix: `${bare},${serverFirst}`,
    };
    return serverFirst;
  }

  #final(state: Extract<_State, { step: "final" }>, message: string): string {
    const cut = message.lastIndexOf(",p=");
    if (cut < 0) throw new ScramError("Authentication failed: SCRAM client-final lacks p=");
    const withoutProof = message.slice(0, cut);
    const attrs = _attributes(withoutProof);
    // Kafka accepts a final nonce that ends with the server's (librdkafka sends the client nonce
    // before the combined one); it still carries this exchange's fresh server part.
    if (!(attrs.get("r") ?? "").endsWith(state.nonce)) {
      throw new ScramError("Authentication failed: SCRAM nonce mismatch");
    }
    if (attrs.get("c") !== _b64(new TextEncoder().encode(state.gs2Header))) {
      throw new ScramError("Authentication failed: SCRAM channel binding mismatch");
    }
    const proof = _unb64(message.slice(cut + 3));
    const authMessage = `${state.authMessagePrefix},${withoutProof}`;
    const m = this.#mechanism;
    const signature = _hmac(m, state.cred.storedKey, authMessage);
    if (proof === null || proof.length !== signature.length) {
      throw new ScramError("Authentication failed: malformed SCRAM proof");
    }
    const clientKey = proof.map((b, i) => b ^ signature[i]!);
    if (!_equal(_h(m, clientKey), state.cred.storedKey) || !state.known) {
      throw new ScramError("Authentication failed: invalid username or password");
    }
    this.#user = state.user;
    return `v=${_b64(_hmac(m, state.cred.serverKey, authMessage))}`;
  }
}

function _attributes(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of s.split(",")) {
    const eq = part.indexOf("=");
    if (eq === 1) out.set(part[0]!, part.slice(2));
  }
  return out;
}

function _unescapeName(name: string): string {
  if (/=(?!2C|3D)/.test(name)) throw new ScramError("Authentication failed: malformed user name");
  return name.replaceAll("=2C", ",").replaceAll("=3D", "=");
}

function _b64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function _unb64(s: string): Uint8Array | null {
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** Base64 of `bytes` (for the credential file). */
export function toBase64(bytes: Uint8Array): string {
  return _b64(bytes);
}

/** Bytes of base64 `s`; throws RangeError when it is not base64. */
export function fromBase64(s: string): Uint8Array {
  const out = _unb64(s);
  if (out === null) {
    throw new RangeError(`Cannot decode base64 as it is malformed: ${s.slice(0, 16)}`);
  }
  return out;
}
