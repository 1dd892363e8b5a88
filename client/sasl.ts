/**
 * SASL for the SDK, as Kafka clients do it on a SASL_PLAINTEXT or SASL_SSL listener (and on
 * QUIC, which takes the same SASL): SaslHandshake v1 names the mechanism, then SaslAuthenticate
 * v1 carries the exchange. PLAIN sends `\0user\0password`; SCRAM-SHA-256/512 follows RFC 5802
 * and 7677 (client-first, server-first, client-final with the proof, and the server's signature
 * checked, so a server that does not know the password is refused too).
 *
 * Hand-written on Web Crypto (PBKDF2 and HMAC): no maintained npm SCRAM client exists that runs
 * on Deno without Node's crypto streams, and the client side is these few lines.
 *
 * @module
 */

import { ErrorCode } from "../protocol/kafka/errors.ts";
import { BrokerError } from "./errors.ts";

/** The mechanisms the SDK speaks. */
export type SaslMechanism = "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512";

/** SASL credentials of a client. */
export interface SaslOptions {
  /** The mechanism, as in librdkafka's `sasl.mechanisms`. */
  readonly mechanism: SaslMechanism;
  /** The user name. */
  readonly username: string;
  /** The password. */
  readonly password: string;
}

/** One SASL step: send `bytes` in a SaslAuthenticate, get the server's bytes back. */
export type SaslExchange = (bytes: Uint8Array) => Promise<Uint8Array>;

const _enc = new TextEncoder();
const _dec = new TextDecoder();

/** Checks the options before anything is dialled. */
export function checkSaslOptions(o: SaslOptions): SaslOptions {
  if (!["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].includes(o.mechanism)) {
    throw new RangeError(
      `Cannot connect as sasl.mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512: current value is ${o.mechanism}`,
    );
  }
  if (o.username.length === 0) {
    throw new RangeError("Cannot connect as sasl.username is empty");
  }
  return o;
}

function _failed(message: string): BrokerError {
  return new BrokerError(ErrorCode.SASL_AUTHENTICATION_FAILED, { brokerMessage: message });
}

/** Runs the client side of `o.mechanism` over `exchange`. */
export async function saslAuthenticate(o: SaslOptions, exchange: SaslExchange): Promise<void> {
  if (o.mechanism === "PLAIN") {
    await exchange(_enc.encode(`\0${o.username}\0${o.password}`));
    return;
  }
  await _scram(o, o.mechanism === "SCRAM-SHA-256" ? "SHA-256" : "SHA-512", exchange);
}

/** RFC 5802 `saslname`: `=` and `,` are escaped in the user name. */
function _saslName(name: string): string {
  return name.replaceAll("=", "=3D").replaceAll(",", "=2C");
}

function _b64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function _unb64(text: string): Uint8Array {
  const s = atob(text);
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

async function _hmac(hash: string, key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as Uint8Array<ArrayBuffer>));
}

function _attributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(",")) {
    const i = part.indexOf("=");
    if (i === 1) out.set(part[0]!, part.slice(2));
  }
  return out;
}

async function _scram(o: SaslOptions, hash: string, exchange: SaslExchange): Promise<void> {
  const nonce = _b64(crypto.getRandomValues(new Uint8Array(24)));
  const clientFirstBare = `n=${_saslName(o.username)},r=${nonce}`;
  const serverFirst = _dec.decode(await exchange(_enc.encode(`n,,${clientFirstBare}`)));
  const sf = _attributes(serverFirst);
  const serverNonce = sf.get("r");
  const salt = sf.get("s");
  const iterations = Number(sf.get("i"));
  if (
    serverNonce === undefined || !serverNonce.startsWith(nonce) || salt === undefined ||
    !Number.isSafeInteger(iterations) || iterations < 1
  ) {
    throw _failed(`Authentication failed: malformed SCRAM server-first message`);
  }
  const base = await crypto.subtle.importKey("raw", _enc.encode(o.password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = hash === "SHA-256" ? 256 : 512;
  const salted = new Uint8Array(
    await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash, salt: _unb64(salt) as Uint8Array<ArrayBuffer>, iterations },
      base,
      bits,
    ),
  );
  const clientKey = await _hmac(hash, salted, _enc.encode("Client Key"));
  const storedKey = new Uint8Array(
    await crypto.subtle.digest(hash, clientKey as Uint8Array<ArrayBuffer>),
  );
  const withoutProof = `c=biws,r=${serverNonce}`;
  const authMessage = _enc.encode(`${clientFirstBare},${serverFirst},${withoutProof}`);
  const signature = await _hmac(hash, storedKey, authMessage);
  const proof = clientKey.map((b, i) => b ^ signature[i]!);
  const serverFinal = _dec.decode(
    await exchange(_enc.encode(`${withoutProof},p=${_b64(proof)}`)),
  );
  const fin = _attributes(serverFinal);
  if (fin.has("e")) throw _failed(`Authentication failed: ${fin.get("e")}`);
  const serverKey = await _hmac(hash, salted, _enc.encode("Server Key"));
  const expected = _b64(await _hmac(hash, serverKey, authMessage));
  if (fin.get("v") !== expected) {
    throw _failed("Authentication failed: the server's SCRAM signature does not verify");
  }
}
