/**
 * The cluster secret: one shared credential that every broker and controller of a cluster holds
 * (`security.cluster_secret_file` in both broker.toml and controller.toml). Brokers present it to
 * the controllers' gRPC (registration, heartbeats, metadata) and to each other's replication
 * port; controllers present it to each other on the Raft port. A peer without it is refused.
 *
 * Why a shared secret as well as mutual TLS: Kafka authenticates its inter-broker listener with
 * SASL credentials that every broker shares (or mTLS), and Redpanda uses mTLS for its RPC. The
 * secret names the peer (`Broker:<id>`) and works with or without TLS; with
 * `security.internal_tls_*` (ops/internal_tls.ts) it travels inside mutual TLS. Without TLS it
 * travels in the clear, as SASL/PLAIN on a SASL_PLAINTEXT listener does, so the cluster network
 * must then be private.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";

/** Fewest bytes a cluster secret may have: 128 bits of randomness, hex-encoded, is 32. */
export const CLUSTER_SECRET_BYTES_MIN = 32;
/** Most bytes a cluster secret may have; it rides in every gRPC call's metadata. */
export const CLUSTER_SECRET_BYTES_MAX = 1024;

/** The secret file is missing, unreadable or unfit; the message says which and how to fix it. */
export class ClusterSecretError extends Error {
  /** Stable name of the condition. */
  readonly code = "CLUSTER_SECRET_INVALID";
  override name = "ClusterSecretError";
}

/** A cluster secret that was read and checked. Its text never appears in logs or errors. */
export class ClusterSecret {
  readonly #digest: Uint8Array;
  readonly #text: string;

  private constructor(text: string) {
    this.#text = text;
    this.#digest = _digest(text);
  }

  /**
   * Checks `text` (the file's content, one trailing newline dropped) and wraps it.
   *
   * @example
   * ```ts
   * const s = ClusterSecret.fromText("0123456789abcdef0123456789abcdef\n");
   * if (!s.matches("0123456789abcdef0123456789abcdef")) throw new Error("unreachable");
   * ```
   */
  static fromText(text: string, source = "the cluster secret"): ClusterSecret {
    const secret = text.replace(/\r?\n$/, "");
    const bytes = new TextEncoder().encode(secret).length;
    if (bytes < CLUSTER_SECRET_BYTES_MIN || bytes > CLUSTER_SECRET_BYTES_MAX) {
      throw new ClusterSecretError(
        `Cannot use ${source} as it must hold ${CLUSTER_SECRET_BYTES_MIN} to ${CLUSTER_SECRET_BYTES_MAX} bytes: current length is ${bytes} (make one with: openssl rand -hex 32)`,
      );
    }
    if (/[^\x21-\x7e]/.test(secret)) {
      throw new ClusterSecretError(
        `Cannot use ${source} as it must be printable ASCII without spaces (it travels in gRPC metadata): make one with: openssl rand -hex 32`,
      );
    }
    return new ClusterSecret(secret);
  }

  /** Reads and checks the secret file at `path`, with an error that names the file. */
  static async load(path: string): Promise<ClusterSecret> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      throw new ClusterSecretError(
        `Cannot read security.cluster_secret_file '${path}': ${(err as Error).message}`,
        { cause: err },
      );
    }
    return ClusterSecret.fromText(text, `security.cluster_secret_file '${path}'`);
  }

  /** The secret, to present to a peer. Never log it. */
  reveal(): string {
    return this.#text;
  }

  /**
   * Whether `presented` is the secret. Both sides are hashed first, so the comparison takes
   * the same time whatever the presented value and its length are.
   */
  matches(presented: string | null | undefined): boolean {
    if (typeof presented !== "string") return false;
    return timingSafeEqual(_digest(presented), this.#digest);
  }

  /** Keeps the secret out of `JSON.stringify` and `console.log`. */
  toJSON(): string {
    return "[cluster secret]";
  }
}

function _digest(text: string): Uint8Array {
  return createHash("sha256").update(text, "utf8").digest();
}

/** Loads the secret when `path` is set; `null` means the cluster runs without one. */
export function loadClusterSecret(path: string): Promise<ClusterSecret | null> {
  return path === "" ? Promise.resolve(null) : ClusterSecret.load(path);
}
