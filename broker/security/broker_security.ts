/**
 * Applies the `[security]` section to a broker: which client listeners require SASL, the SASL
 * and security-admin routes, and the authorization middleware. Kept out of `broker.ts` so the
 * broker only asks for three things: extra routes, middleware, and a wrapper for the client
 * listeners' handler.
 *
 * The replication listener is not wrapped: brokers do not authenticate to each other yet, so
 * with the authorizer on, followers fetch as `User:ANONYMOUS` and need ClusterAction on the
 * Cluster (restrict it by host).
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
import { SecurityStore } from "./security_store.ts";

/** What the broker wires in from `[security]`. */
export interface BrokerSecurity {
  readonly store: SecurityStore;
  /** SaslHandshake, SaslAuthenticate and the ACL and SCRAM admin APIs. */
  readonly routes: readonly AnyRoute[];
  /** Authorization, when `security.authorizer_enabled`. */
  readonly middleware: readonly RequestMiddleware[];
  /** Wraps the handler of the client listeners (TCP and QUIC): the SASL gate, if any. */
  wrapClient(handler: FrameHandler): FrameHandler;
  /** The authenticator, when the listeners take SASL. */
  readonly sasl: SaslAuthenticator | null;
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
  const store = await SecurityStore.open(fileMetadataPersistence(securityFilePath(dataDir)));
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
  const middleware = sec.authorizer_enabled ? [authorizationMiddleware(() => store.acls, acl)] : [];
  return {
    store,
    routes: [...authenticator.routes(), ...securityAdminRoutes(store, sec.authorizer_enabled)],
    middleware,
    sasl,
    wrapClient: (handler) => sasl === null ? handler : sasl.gate(handler),
  };
}
