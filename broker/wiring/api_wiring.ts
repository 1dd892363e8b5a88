/**
 * Broker wiring, the Kafka API: the route table (with security's routes), the startup gate that
 * answers ApiVersions at once and holds other requests until the broker serves, the client
 * listeners (TCP or TLS, and QUIC), the replication listener, and, once everything is recovered,
 * the request router over the broker context.
 *
 * @module
 */

import type { BrokerConfig } from "../../config/schema.ts";
import { parseHostPort } from "../../config/rules.ts";
import type { Logger } from "../../ops/logger.ts";
import type { DynamicBrokerConfig } from "../../config/dynamic_config.ts";
import type { LiveTopicDefaults } from "../broker_dynamic_config.ts";
import { openTcpListener, type TcpListener } from "../net/tcp_listener.ts";
import { listenQuic, type QuicListener } from "../net/quic_listener.ts";
import type { FrameHandler } from "../net/frame_handler.ts";
import {
  type AnyRoute,
  anyRoute,
  createRequestRouter,
  type RequestObserver,
} from "../kafka_api/request_router.ts";
import { StartupGate } from "../kafka_api/startup_gate.ts";
import { BROKER_ROUTES } from "../kafka_api/routes.ts";
import type { BrokerContext } from "../kafka_api/broker_context.ts";
import { offsetForLeaderEpochRoute } from "../kafka_api/offset_for_leader_epoch_handler.ts";
import type { LeaderEpochLookup } from "../replication/leader_epoch_lookup.ts";
import type { BrokerSecurity } from "../security/broker_security.ts";
import type { InternalTls } from "../../ops/internal_tls.ts";
import { CertificatePrincipalMapper } from "../security/principal_mapping.ts";
import { CLUSTER_PEER_PRINCIPAL_PREFIX } from "../security/replication_auth.ts";

/** TLS material for the listeners. */
export interface BrokerTls {
  readonly certPem: string;
  readonly keyPem: string;
}

/** The bound listeners, and the gate they serve through until the router opens. */
export interface BrokerListeners {
  readonly routes: readonly AnyRoute[];
  readonly gate: StartupGate;
  readonly tcp: TcpListener;
  readonly quic: QuicListener | null;
  readonly replication: TcpListener | null;
}

/**
 * Binds the listeners. They start before storage is served because the advertised port is
 * only known once bound; `epochs` answers OffsetForLeaderEpoch once partitions exist.
 */
export async function startListeners(
  cfg: BrokerConfig,
  d: {
    security: BrokerSecurity;
    epochs: LeaderEpochLookup;
    quicTls: BrokerTls | undefined;
    replicationListener: boolean;
    log: Logger;
  },
): Promise<BrokerListeners> {
  const routes = [
    ...BROKER_ROUTES,
    anyRoute(offsetForLeaderEpochRoute(d.epochs)),
    ...d.security.routes,
  ];
  const gate = new StartupGate(routes);
  // Client listeners authenticate (SASL) when [security] asks; replication has its own gate.
  const clientHandler = d.security.wrapClient(gate.handler);
  const kafkaListen = parseHostPort(cfg.network.kafka_listen)!;
  const tcp = await openTcpListener(clientHandler, {
    ...d.security.kafkaListenerTls,
    hostname: kafkaListen.host,
    port: kafkaListen.port,
    maxConnections: cfg.network.max_connections,
    connectionTimeoutMs: cfg.network.connection_timeout_ms,
    maxRequestBytes: cfg.network.max_request_bytes,
    maxInFlightRequests: cfg.network.max_in_flight_requests,
    logger: d.log.child("tcp"),
    ...(cfg.network.tls_cert_path
      ? {
        cert: await Deno.readTextFile(cfg.network.tls_cert_path),
        key: await Deno.readTextFile(cfg.network.tls_key_path),
      }
      : {}),
  });
  // Not with ssl_client_auth = "required": Deno's QUIC endpoint cannot ask for client
  // certificates, so QUIC would be a way around the requirement.
  const quic = d.quicTls && d.security.quicAllowed
    ? _startQuic(cfg, clientHandler, d.quicTls, d.log)
    : null;
  const replication = d.replicationListener
    ? await _startReplicationListener(
      cfg,
      d.security.wrapReplication(gate.handler),
      d.security.internalTls,
      d.log,
    )
    : null;
  return { routes, gate, tcp, quic, replication };
}

/** The host clients are told to connect to: `advertised_host`, or the bound one. */
export function advertisedHost(cfg: BrokerConfig): string {
  const kafkaListen = parseHostPort(cfg.network.kafka_listen)!;
  return cfg.broker.advertised_host ||
    (kafkaListen.host === "0.0.0.0" || kafkaListen.host === "::" ? "127.0.0.1" : kafkaListen.host);
}

/** The context every handler runs with; topic defaults follow dynamic config changes. */
export function brokerContext(
  base: Omit<BrokerContext, keyof _LiveDefaults | "dynamicConfig">,
  topicDefaults: LiveTopicDefaults,
  dynamicConfig: DynamicBrokerConfig,
): BrokerContext {
  return {
    ...base,
    // Getters: these follow dynamic config changes.
    get autoCreateTopics() {
      return topicDefaults.autoCreateTopics;
    },
    get defaultPartitions() {
      return topicDefaults.partitions;
    },
    get defaultReplicationFactor() {
      return topicDefaults.replicationFactor;
    },
    get defaultMinInsyncReplicas() {
      return topicDefaults.minInsyncReplicas;
    },
    get defaultRetentionMs() {
      return topicDefaults.retentionMs;
    },
    get defaultMessageMaxBytes() {
      return topicDefaults.messageMaxBytes;
    },
    get defaultMessageDownconversionEnable() {
      return topicDefaults.messageDownconversionEnable;
    },
    dynamicConfig,
  };
}

type _LiveDefaults = Pick<
  BrokerContext,
  | "autoCreateTopics"
  | "defaultPartitions"
  | "defaultReplicationFactor"
  | "defaultMinInsyncReplicas"
  | "defaultRetentionMs"
  | "defaultMessageMaxBytes"
  | "defaultMessageDownconversionEnable"
>;

/** Opens the gate: from now on requests go through the router, its middleware and handlers. */
export function openApi(
  listeners: BrokerListeners,
  ctx: BrokerContext,
  d: {
    security: BrokerSecurity;
    observe: RequestObserver;
  },
): void {
  listeners.gate.openWith(
    createRequestRouter(listeners.routes, ctx, d.observe, d.security.middleware),
  );
}

function _startQuic(
  cfg: BrokerConfig,
  handler: FrameHandler,
  tls: BrokerTls,
  log: Logger,
): QuicListener {
  const addr = parseHostPort(cfg.network.quic_listen)!;
  const q = cfg["network.quic_config"];
  return listenQuic(handler, {
    hostname: addr.host,
    port: addr.port,
    cert: tls.certPem,
    key: tls.keyPem,
    maxConcurrentStreams: q.max_concurrent_bidi_streams,
    maxConcurrentUniStreams: q.max_concurrent_uni_streams,
    maxRequestBytes: cfg.network.max_request_bytes,
    connectionTimeoutMs: q.max_idle_timeout_ms,
    maxConnections: cfg.network.max_connections,
    logger: log.child("quic"),
  });
}

function _startReplicationListener(
  cfg: BrokerConfig,
  handler: FrameHandler,
  tls: InternalTls | null,
  log: Logger,
): Promise<TcpListener> {
  const addr = parseHostPort(cfg.network.rpc_listen)!;
  // With internal TLS only a member whose certificate chains to the cluster's CA gets in, and
  // it acts as a cluster peer named by its certificate's subject (Broker:CN=...); with a
  // cluster secret too, the secret's handshake then names it Broker:<id>.
  const subject = new CertificatePrincipalMapper(["DEFAULT"], "subject");
  const mtls = tls === null ? {} : {
    cert: tls.certPem,
    key: tls.keyPem,
    clientAuth: {
      mode: "required" as const,
      ca: tls.caPem,
      principalOf: (der: Uint8Array) => {
        const mapped = subject.principalOf(der);
        if ("refused" in mapped) return mapped;
        return {
          principal: CLUSTER_PEER_PRINCIPAL_PREFIX + mapped.principal.slice("User:".length),
        };
      },
    },
  };
  // Followers speak the same Kafka frames (Fetch with a replica id, OffsetForLeaderEpoch); a
  // port of their own keeps replication traffic apart from clients' connection limits.
  const interBroker: FrameHandler = (frame, ctx) => {
    ctx.interBroker = true;
    return handler(frame, ctx);
  };
  return openTcpListener(interBroker, {
    ...mtls,
    hostname: addr.host,
    port: addr.port,
    maxConnections: 1024,
    connectionTimeoutMs: cfg.network.connection_timeout_ms,
    maxRequestBytes: cfg.network.max_request_bytes,
    maxInFlightRequests: cfg.network.max_in_flight_requests,
    logger: log.child("replication"),
    listenerName: "replication listener",
  });
}
