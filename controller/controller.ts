/**
 * A whole controller role: Raft node with file storage in `controller.data_dir`, the gRPC Raft
 * transport on `raft_listen`, the BrokerService on `rpc_listen`, and the operations app with the
 * admin REST API on `http_listen`. `rustmq controller` runs one; tests start them from code.
 *
 * @module
 */

import { AutoBalancer } from "./auto_balancer.ts";
import { type DirectoryLock, lockDirectory } from "../ops/dir_lock.ts";
import { Gauge, type Registry } from "prom-client";
import type { ControllerConfig } from "../config/schema.ts";
import { mountAdminHttpMiddleware } from "./admin_http_middleware.ts";
import { VERSION } from "../config/version.ts";
import type { Logger } from "../ops/logger.ts";
import { createOpsApp, type OpsServer, serveOps } from "../ops/ops_server.ts";
import { BrokerServiceServer } from "./broker_service.ts";
import { mountAdminApi } from "./admin_api.ts";
import { ControllerNode } from "./controller_node.ts";
import { ScalingDriver } from "./scaling_driver.ts";
import { systemClock } from "../ops/clock.ts";
import { partitionHealth } from "./metadata/state_machine.ts";
import { FileStorage, SeededRandom } from "./raft/mod.ts";
import { GrpcRaftTransport } from "./transport/grpc_raft_transport.ts";
import type { CloseOptions } from "./transport/raft_transport.ts";
import { loadClusterSecret } from "../ops/cluster_secret.ts";
import { loadAdminTls, loadInternalTls } from "../ops/internal_tls.ts";
import { parseHostPort } from "./transport/grpc_codec.ts";

/** Addresses a started controller bound (real ports when configured with port 0). */
export interface ControllerAddrs {
  raftPort: number;
  rpcPort: number;
  httpPort: number;
}

/** Options of {@linkcode Controller.start}. */
export interface ControllerStartOptions {
  logger: Logger;
  /** Request timeout of proposals and reads. @default 10000 */
  requestTimeoutMs?: number;
}

/**
 * Parses `raft.peers` (`id@host:port`) into a map; an empty list means a single-voter quorum of
 * this node at its own `raft_listen`.
 */
export function parsePeers(cfg: ControllerConfig): Record<string, string> {
  const peers: Record<string, string> = {};
  for (const p of cfg.raft.peers) {
    const at = p.indexOf("@");
    if (at <= 0) throw new RangeError(`Cannot parse raft peer '${p}': expected node_id@host:port`);
    parseHostPort(p.slice(at + 1));
    peers[p.slice(0, at)] = p.slice(at + 1);
  }
  if (Object.keys(peers).length === 0) peers[cfg.controller.node_id] = cfg.controller.raft_listen;
  if (!(cfg.controller.node_id in peers)) {
    throw new RangeError(
      `Cannot start controller '${cfg.controller.node_id}' as raft.peers does not list it: current value is ${
        JSON.stringify(cfg.raft.peers)
      }`,
    );
  }
  return peers;
}

/** Ticks per election timeout, with one tick per heartbeat interval. */
export function electionTicksOf(cfg: ControllerConfig): number {
  return Math.max(2, Math.round(cfg.raft.election_timeout_ms / cfg.raft.heartbeat_interval_ms));
}

/** Prometheus gauges of a controller, read when `/metrics` is scraped. */
export function registerControllerMetrics(registry: Registry, node: ControllerNode): void {
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge(
    "rustmq_controller_is_leader",
    "1 on the Raft leader",
    () => node.status().role === "leader" ? 1 : 0,
  );
  gauge("rustmq_controller_term", "Raft term", () => node.status().term);
  gauge("rustmq_controller_commit_index", "Raft commit index", () => node.status().commit);
  gauge("rustmq_controller_applied_index", "Applied log index", () => node.sm.applied);
  gauge(
    "rustmq_controller_snapshot_index",
    "Index of the latest snapshot",
    () => node.status().snapshotIndex,
  );
  gauge(
    "rustmq_controller_brokers_up",
    "Registered brokers not fenced",
    () => node.sm.brokers().filter((b) => !b.fenced).length,
  );
  gauge(
    "rustmq_controller_brokers_fenced",
    "Registered brokers fenced",
    () => node.sm.brokers().filter((b) => b.fenced).length,
  );
  gauge("rustmq_controller_topics", "Topics", () => node.sm.topics().length);
  gauge(
    "rustmq_controller_offline_partitions",
    "Partitions without a leader",
    () => partitionHealth(node.sm.topics()).offline,
  );
  gauge(
    "rustmq_controller_under_replicated_partitions",
    "Partitions with ISR < replicas",
    () => partitionHealth(node.sm.topics()).underReplicated,
  );
}

/** A running controller. */
export class Controller implements AsyncDisposable {
  readonly node: ControllerNode;
  readonly addrs: ControllerAddrs;
  readonly #closers: ((options: CloseOptions) => Promise<void>)[];

  private constructor(
    node: ControllerNode,
    addrs: ControllerAddrs,
    closers: ((options: CloseOptions) => Promise<void>)[],
  ) {
    this.node = node;
    this.addrs = addrs;
    this.#closers = closers;
  }

  /** Starts every listener of a controller described by `cfg`. */
  static async start(cfg: ControllerConfig, options: ControllerStartOptions): Promise<Controller> {
    const peers = parsePeers(cfg);
    // A second controller on the same directory would interleave writes into its Raft log.
    const lock = await lockDirectory(cfg.controller.data_dir, "controller data");
    try {
      return await Controller.#startLocked(cfg, options, peers, lock);
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  static async #startLocked(
    cfg: ControllerConfig,
    options: ControllerStartOptions,
    peers: ReturnType<typeof parsePeers>,
    lock: DirectoryLock,
  ): Promise<Controller> {
    const log = options.logger;
    // Read before anything listens, so a bad secret file stops the controller with its reason.
    const clusterSecret = await loadClusterSecret(cfg.security.cluster_secret_file);
    const tls = await loadInternalTls(cfg.security);
    const adminTls = await loadAdminTls(cfg.security);
    const storage = await FileStorage.open(cfg.controller.data_dir);
    const transport = await GrpcRaftTransport.start({
      selfId: cfg.controller.node_id,
      listen: cfg.controller.raft_listen,
      peers,
      logger: log.child("raft"),
      clusterSecret,
      tls,
    });
    const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
    const node = await ControllerNode.open({
      id: cfg.controller.node_id,
      voters: Object.keys(peers),
      storage,
      transport,
      random: new SeededRandom(seed),
      logger: log,
      tickMs: cfg.raft.heartbeat_interval_ms,
      electionTicks: electionTicksOf(cfg),
      snapshotEntries: cfg.controller.snapshot_entries,
      brokerLeaseMs: cfg.controller.broker_lease_ms,
      uncleanLeaderElection: cfg.controller.unclean_leader_election,
      stateMachine: { decommissionSlotsMax: cfg.scaling.max_concurrent_decommissions },
      ...(options.requestTimeoutMs !== undefined
        ? { requestTimeoutMs: options.requestTimeoutMs }
        : {}),
    });
    const rpc = await BrokerServiceServer.start(
      node,
      cfg.controller.rpc_listen,
      log.child("rpc"),
      clusterSecret,
      tls,
    );
    const scaling = new ScalingDriver(node, {
      clock: systemClock,
      logger: log.child("scaling"),
      moveTimeoutMs: cfg.scaling.rebalance_timeout_ms,
      migrationRate: cfg.scaling.traffic_migration_rate,
    });
    scaling.start();
    const balancer = new AutoBalancer(node, {
      clock: systemClock,
      logger: log.child("autobalancer"),
      enabled: cfg.autobalancer.enabled,
      cpuThreshold: cfg.autobalancer.cpu_threshold,
      memoryThreshold: cfg.autobalancer.memory_threshold,
      cooldownMs: cfg.autobalancer.cooldown_seconds * 1000,
      loads: node.loads,
      // A report older than a lease is from a broker that is gone or fenced.
      reportMaxAgeMs: cfg.controller.broker_lease_ms,
      newId: () => crypto.randomUUID(),
    });
    balancer.start();
    const { app, registry } = createOpsApp({
      role: "controller",
      version: VERSION,
      readiness: {
        leader: () => node.status().leaderId === null ? "no Raft leader is known" : null,
      },
    });
    mountAdminHttpMiddleware(app, {
      admin: cfg.admin,
      rateLimiting: cfg["admin.rate_limiting"],
      logger: log.child("admin"),
    });
    mountAdminApi(app, node, { adminToken: cfg.controller.admin_token, autoBalancer: balancer });
    registerControllerMetrics(registry, node);
    const http = parseHostPort(cfg.controller.http_listen);
    const ops: OpsServer = serveOps(
      app,
      { hostname: http.host, port: http.port },
      log.child("http"),
      adminTls,
    );
    const addrs = { raftPort: transport.port, rpcPort: rpc.port, httpPort: ops.port };
    log.info("controller started", { nodeId: cfg.controller.node_id, ...addrs, peers });
    return new Controller(node, addrs, [
      () => Promise.resolve(scaling.stop()),
      () => Promise.resolve(balancer.stop()),
      () => ops.close(),
      (options) => rpc.close(options),
      (options) => node.close(options),
      () => Promise.resolve(lock.release()),
    ]);
  }

  /**
   * Stops every listener; durable state stays in `data_dir`. `rustmq controller` passes
   * `processExit` ({@linkcode CloseOptions}): its gRPC connections are left to the exit.
   */
  async close(options: CloseOptions = {}): Promise<void> {
    for (const close of this.#closers.splice(0)) await close(options);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
