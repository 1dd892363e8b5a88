/**
 * Applies the `[security]` section to a broker: which client listeners require SASL, the SASL
 * and security-admin routes, and the authorization middleware. Kept out of `broker.ts` so the
 * broker only asks for three things: extra routes, middleware, and a wrapper for the client
 * listeners' handler.
 *
 * With `security.cluster_secret_file` the replication listener requires the cluster secret
 * (replication_auth.ts) and followers present it; an authenticated follower is `Broker:<id>`,
 * which the authorizer lets through. Without it, followers fetch as `User:ANONYMOUS` and, with
 * the authorizer on, need ClusterAction on the Cluster (restrict it by host).
 *
 * @module
 */

import type { BrokerConfig } from "../../config/schema.ts";
import { listenerProtocol } from "../../config/security_rules.ts";
import { systemClock } from "../../ops/clock.ts";
import { fileMetadataPersistence } from "../metadata/local_metadata.ts";
import type { FrameHandler } from "../net/frame_handler.ts";
import type { AnyRoute, RequestMiddleware } from "../kafka_api/request_router.ts";
import { authorizationMiddleware } from "./kafka_authorization.ts";
import { SaslAuthenticator } from "./sasl_authenticator.ts";
import { securityAdminRoutes } from "./security_admin_handlers.ts";
import { type SecurityDirectory, SecurityStore } from "./security_store.ts";
import {
  ClusterSecurityDirectory,
  type SecurityMetadataSource,
} from "./cluster_security_directory.ts";
import type { AclBinding } from "../../model/security_metadata.ts";
import { type ClusterSecret, loadClusterSecret } from "../../ops/cluster_secret.ts";
import { replicationAuthGate } from "./replication_auth.ts";
import { type InternalTls, loadInternalTls } from "../../ops/internal_tls.ts";
import type { TcpClientAuth } from "../net/tcp_listener.ts";
import { CertificatePrincipalMapper, type PrincipalSource } from "./principal_mapping.ts";

/** What the broker wires in from `[security]`. */
export interface BrokerSecurity {
  /** Users and ACLs: the local file, or the controller's metadata once bound to a cluster. */
  readonly store: SecurityDirectory;
  /**
   * Switches to the controller's metadata when the cluster binding offers it; without one (or
   * when already local) the local file stays in use.
   */
  bindCluster(source: SecurityMetadataSource | undefined): Promise<void>;
  /** SaslHandshake, SaslAuthenticate and the ACL and SCRAM admin APIs. */
  readonly routes: readonly AnyRoute[];
  /** Authorization, when `security.authorizer_enabled`. */
  readonly middleware: readonly RequestMiddleware[];
  /** Wraps the handler of the client listeners (TCP and QUIC): the SASL gate, if any. */
  wrapClient(handler: FrameHandler): FrameHandler;
  /** The authenticator, when the listeners take SASL. */
  readonly sasl: SaslAuthenticator | null;
  /** The cluster secret brokers present to each other and to the controllers, if set. */
  readonly clusterSecret: ClusterSecret | null;
  /**
   * Mutual TLS on the replication port and to the controllers (`security.internal_tls_*`),
   * if set: the listener serves it and the fetchers present it.
   */
  readonly internalTls: InternalTls | null;
  /** Wraps the replication listener's handler: the cluster-secret gate, if any. */
  wrapReplication(handler: FrameHandler): FrameHandler;
  /** The Kafka TCP listener's mutual-TLS options, when `security.ssl_client_auth` is set. */
  readonly kafkaListenerTls: { clientAuth?: TcpClientAuth };
  /**
   * Whether the QUIC listener may run. Not with `ssl_client_auth = "required"`: Deno's QUIC
   * endpoint cannot ask for client certificates, so QUIC would be a way around the requirement.
   */
  readonly quicAllowed: boolean;
}

/** The path of the users-and-ACLs file in a broker's data directory. */
export function securityFilePath(dataDir: string): string {
  return `${dataDir}/security.json`;
}

/** Opens the store and builds the pieces `cfg.security` asks for. */
export async function startBrokerSecurity(
  cfg: BrokerConfig,
  dataDir: string,
): Promise<BrokerSecurity> {
  const sec = cfg.security;
  // Read first, so a bad secret file stops the broker with its reason before anything listens.
  const clusterSecret = await loadClusterSecret(sec.cluster_secret_file);
  const internalTls = await loadInternalTls(sec);
  const openLocal = () => SecurityStore.open(fileMetadataPersistence(securityFilePath(dataDir)));
  // A cluster broker takes users and ACLs from the controllers only, so that they are the same
  // on every broker; until it is bound it knows none (SASL fails, the authorizer denies).
  const store = new _SwitchingDirectory(
    cfg.controller.endpoints.length > 0 ? _UNBOUND : await openLocal(),
  );
  const protocol = listenerProtocol(cfg);
  // Validation refuses this already; the broker checks again rather than trust its caller.
  const plaintextAllowed = sec.allow_sasl_plaintext;
  if (protocol === "SASL_PLAINTEXT" && !plaintextAllowed) {
    throw new Error(
      "Cannot serve SASL_PLAINTEXT without security.allow_sasl_plaintext = true: it sends credentials unencrypted",
    );
  }
  // Every setting is read up front, so what the config says is resolved whether or not the
  // feature it tunes is on.
  const mechanisms = sec.sasl_enabled_mechanisms;
  const acl = {
    superUsers: sec.super_users,
    allowEveryoneIfNoAclFound: sec.allow_everyone_if_no_acl_found,
  };
  const sasl = protocol === "SASL_SSL" || protocol === "SASL_PLAINTEXT"
    ? new SaslAuthenticator({
      store,
      mechanisms,
      maxUnauthenticatedBytes: sec.sasl_max_receive_bytes,
      failureDelayMs: sec.auth_failure_delay_ms,
      failureDelayMaxMs: sec.auth_failure_delay_max_ms,
      clock: systemClock,
      randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
    })
    : null;
  // Without SASL the handshake routes still answer (ILLEGAL_SASL_STATE), so a misconfigured
  // client gets an error instead of an unknown-API close.
  const authenticator = sasl ?? new SaslAuthenticator({
    store,
    mechanisms: [],
    maxUnauthenticatedBytes: sec.sasl_max_receive_bytes,
    failureDelayMs: sec.auth_failure_delay_ms,
    failureDelayMaxMs: sec.auth_failure_delay_max_ms,
    clock: systemClock,
    randomBytes: (n) => crypto.getRandomValues(new Uint8Array(n)),
  });
  const clientAuth = await _clientAuth(cfg);
  const middleware = sec.authorizer_enabled ? [authorizationMiddleware(() => store.acls, acl)] : [];
  return {
    store,
    bindCluster: async (source) => {
      if (source !== undefined) store.target = new ClusterSecurityDirectory(source);
      else if (store.target === _UNBOUND) store.target = await openLocal();
    },
    routes: [...authenticator.routes(), ...securityAdminRoutes(store, sec.authorizer_enabled)],
    middleware,
    sasl,
    wrapClient: (handler) => sasl === null ? handler : sasl.gate(handler),
    clusterSecret,
    internalTls,
    wrapReplication: (handler) =>
      clusterSecret === null ? handler : replicationAuthGate(handler, clusterSecret),
    kafkaListenerTls: clientAuth === null ? {} : { clientAuth },
    quicAllowed: sec.ssl_client_auth !== "required",
  };
}

/** Reads the clients' CA and the mapping rules; null when `ssl_client_auth = "none"`. */
async function _clientAuth(cfg: BrokerConfig): Promise<TcpClientAuth | null> {
  const sec = cfg.security;
  // Read every key, so the mapping is resolved (and a bad rule refused) whatever the mode.
  const mode = sec.ssl_client_auth;
  const mapper = new CertificatePrincipalMapper(
    sec.ssl_principal_mapping_rules,
    sec.ssl_principal_source as PrincipalSource,
  );
  const caPath = sec.ssl_client_ca_path;
  if (mode === "none") return null;
  if (mode !== "requested" && mode !== "required") {
    throw new Error(`Cannot use security.ssl_client_auth = ${JSON.stringify(mode)}`);
  }
  let ca: string;
  try {
    ca = await Deno.readTextFile(caPath);
  } catch (error) {
    throw new Error(`Cannot read security.ssl_client_ca_path ${JSON.stringify(caPath)}: ${error}`);
  }
  if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(
      `Cannot use security.ssl_client_ca_path ${
        JSON.stringify(caPath)
      }: it holds no PEM certificate`,
    );
  }
  return { mode, ca, principalOf: (der) => mapper.principalOf(der) };
}

/** The directory of a cluster broker before it has joined: empty, and refusing changes. */
const _UNBOUND: SecurityDirectory = {
  credential: () => null,
  users: () => [],
  acls: [],
  upsertCredential: () => Promise.reject(_notJoined()),
  deleteCredential: () => Promise.reject(_notJoined()),
  addAcls: () => Promise.reject(_notJoined()),
  matchAcls: () => [],
  deleteAcls: () => Promise.reject(_notJoined()),
};

function _notJoined(): Error {
  return Object.assign(
    new Error("Cannot change users or ACLs before the broker joined the cluster"),
    {
      retriable: true,
    },
  );
}

/**
 * Forwards to the current directory, so the SASL authenticator and the authorizer, built before
 * the broker joins its cluster, read the controller's users and ACLs once it has.
 */
class _SwitchingDirectory implements SecurityDirectory {
  target: SecurityDirectory;

  constructor(target: SecurityDirectory) {
    this.target = target;
  }

  credential(user: string, mechanism: Parameters<SecurityDirectory["credential"]>[1]) {
    return this.target.credential(user, mechanism);
  }
  users() {
    return this.target.users();
  }
  get acls(): readonly AclBinding[] {
    return this.target.acls;
  }
  upsertCredential(...a: Parameters<SecurityDirectory["upsertCredential"]>) {
    return this.target.upsertCredential(...a);
  }
  deleteCredential(...a: Parameters<SecurityDirectory["deleteCredential"]>) {
    return this.target.deleteCredential(...a);
  }
  addAcls(...a: Parameters<SecurityDirectory["addAcls"]>) {
    return this.target.addAcls(...a);
  }
  matchAcls(...a: Parameters<SecurityDirectory["matchAcls"]>) {
    return this.target.matchAcls(...a);
  }
  deleteAcls(...a: Parameters<SecurityDirectory["deleteAcls"]>) {
    return this.target.deleteAcls(...a);
  }
}
