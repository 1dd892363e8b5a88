/**
 * Mutual TLS between cluster members (`security.internal_tls_cert_path`, `_key_path` and
 * `_ca_path`, the same three keys in broker.toml and controller.toml). With them set, the
 * controllers' gRPC ports (Raft and the broker service) and the brokers' replication port serve
 * TLS with this node's certificate, require the peer's certificate to chain to the CA, and the
 * node presents its own certificate when it calls a peer. That is Redpanda's RPC TLS and Kafka's
 * `ssl.client.auth=required` on an inter-broker listener. The cluster secret, when also set,
 * still travels inside the encrypted channel, so a stolen certificate alone is not enough.
 *
 * Certificates must name the address peers dial (a DNS or IP subject alternative name), since
 * both sides verify the host name.
 *
 * @module
 */

/** The three internal-TLS keys of either config file. */
export interface InternalTlsKeys {
  readonly internal_tls_cert_path: string;
  readonly internal_tls_key_path: string;
  readonly internal_tls_ca_path: string;
}

/** A node's certificate, its key and the CA its peers must chain to, as PEM text. */
export interface InternalTls {
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
}

/** A key is missing, a file unreadable or not PEM; the message names the key and the fix. */
export class InternalTlsError extends Error {
  /** Stable name of the condition. */
  readonly code = "INTERNAL_TLS_INVALID";
  override name = "InternalTlsError";
}

/**
 * The contradiction in `keys`, or null: the three are set together or not at all, so a
 * half-configured node is refused instead of silently talking in the clear.
 *
 * @example
 * ```ts
 * const why = internalTlsContradiction({
 *   internal_tls_cert_path: "node.pem",
 *   internal_tls_key_path: "",
 *   internal_tls_ca_path: "ca.pem",
 * });
 * if (why === null) throw new Error("unreachable");
 * ```
 */
export function internalTlsContradiction(keys: InternalTlsKeys): string | null {
  const set = _entries(keys).filter(([, v]) => v !== "");
  if (set.length === 0 || set.length === 3) return null;
  const missing = _entries(keys).filter(([, v]) => v === "").map(([k]) => `security.${k}`);
  return `internal TLS needs all of security.internal_tls_cert_path, _key_path and _ca_path: set ${
    missing.join(" and ")
  } too, or clear the others`;
}

/** Reads the three files, or returns null when internal TLS is off (all three empty). */
export async function loadInternalTls(keys: InternalTlsKeys): Promise<InternalTls | null> {
  const why = internalTlsContradiction(keys);
  if (why !== null) throw new InternalTlsError(`Cannot start: ${why}`);
  if (keys.internal_tls_cert_path === "") return null;
  const [certPem, keyPem, caPem] = await Promise.all(
    _entries(keys).map(([k, path]) => _readPem(k, path)),
  );
  return { certPem: certPem!, keyPem: keyPem!, caPem: caPem! };
}

function _entries(keys: InternalTlsKeys): [string, string][] {
  return [
    ["internal_tls_cert_path", keys.internal_tls_cert_path],
    ["internal_tls_key_path", keys.internal_tls_key_path],
    ["internal_tls_ca_path", keys.internal_tls_ca_path],
  ];
}

async function _readPem(key: string, path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new InternalTlsError(
      `Cannot read security.${key} '${path}': ${(err as Error).message}`,
    );
  }
  if (!text.includes("-----BEGIN ")) {
    throw new InternalTlsError(`Cannot use security.${key} '${path}' as it holds no PEM block`);
  }
  return text;
}

/** The admin HTTPS keys of controller.toml. */
export interface AdminTlsKeys {
  readonly admin_tls_cert_path: string;
  readonly admin_tls_key_path: string;
}

/** Reads the admin API's certificate and key, or returns null for plain HTTP (both empty). */
export async function loadAdminTls(
  keys: AdminTlsKeys,
): Promise<{ cert: string; key: string } | null> {
  if (keys.admin_tls_cert_path === "" && keys.admin_tls_key_path === "") return null;
  if (keys.admin_tls_cert_path === "" || keys.admin_tls_key_path === "") {
    throw new InternalTlsError(
      "Cannot start: HTTPS needs both security.admin_tls_cert_path and security.admin_tls_key_path",
    );
  }
  const [cert, key] = await Promise.all([
    _readPem("admin_tls_cert_path", keys.admin_tls_cert_path),
    _readPem("admin_tls_key_path", keys.admin_tls_key_path),
  ]);
  return { cert: cert!, key: key! };
}
