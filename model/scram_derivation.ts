/**
 * Derives a stored SCRAM credential (RFC 5802: salt, iterations, StoredKey, ServerKey) from a
 * password, for the controller's REST API, which takes a password once and keeps only this.
 * It computes exactly what broker/security/scram.ts verifies (its test checks the two agree);
 * it lives in model/ because the controller may not import the broker.
 *
 * @module
 */

import { createHash, createHmac, pbkdf2 } from "node:crypto";
import { Buffer } from "node:buffer";
import type { ScramMechanismName, StoredScramCredential } from "./security_metadata.ts";

/** Kafka's bounds on SCRAM iterations. */
export const SCRAM_DERIVE_ITERATIONS_MIN = 4096;
export const SCRAM_DERIVE_ITERATIONS_MAX = 16384;
/** The default iteration count (Kafka's kafka-configs default). */
export const SCRAM_DERIVE_ITERATIONS_DEFAULT = 8192;

/**
 * The stored credential of `password` under `salt`.
 *
 * @example
 * ```ts
 * import { deriveScramCredential } from "./scram_derivation.ts";
 * import assert from "node:assert/strict";
 * const c = await deriveScramCredential("SCRAM-SHA-256", "pencil", new Uint8Array(16), 4096);
 * assert.equal(c.iterations, 4096);
 * assert.equal(atob(c.storedKey).length, 32);
 * ```
 */
export async function deriveScramCredential(
  mechanism: ScramMechanismName,
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<StoredScramCredential> {
  if (
    !Number.isInteger(iterations) || iterations < SCRAM_DERIVE_ITERATIONS_MIN ||
    iterations > SCRAM_DERIVE_ITERATIONS_MAX
  ) {
    throw new RangeError(
      `Cannot derive a credential as iterations must be ${SCRAM_DERIVE_ITERATIONS_MIN} to ${SCRAM_DERIVE_ITERATIONS_MAX}: current value is ${iterations}`,
    );
  }
  const hash = mechanism === "SCRAM-SHA-256" ? "sha256" : "sha512";
  const len = mechanism === "SCRAM-SHA-256" ? 32 : 64;
  const salted = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(
      password.normalize("NFKC"),
      salt,
      iterations,
      len,
      hash,
      (err, key) => err ? reject(err) : resolve(key),
    )
  );
  const clientKey = createHmac(hash, salted).update("Client Key").digest();
  return {
    salt: Buffer.from(salt).toString("base64"),
    iterations,
    storedKey: createHash(hash).update(clientKey).digest("base64"),
    serverKey: createHmac(hash, salted).update("Server Key").digest("base64"),
  };
}
