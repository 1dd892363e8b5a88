/**
 * A broker's session with the controller quorum: it registers the broker, renews its lease with
 * heartbeats, and follows the metadata through `WatchMetadata` into a {@linkcode MetadataCache},
 * reconnecting to another controller whenever the stream breaks. {@linkcode RemoteClusterMetadata}
 * and {@linkcode RemoteObjectManifest} are views over one session.
 *
 * @module
 */

import type * as grpc from "@grpc/grpc-js";
import type { BrokerEndpoint } from "../metadata/commands.ts";
import type { MetadataImage, WatchEvent } from "../metadata/image.ts";
import { MetadataError } from "../metadata/errors.ts";
import type { Logger } from "../../ops/logger.ts";
import { ControllerClient } from "./controller_client.ts";
import { MetadataCache } from "./metadata_cache.ts";
import type { BrokerLoad } from "../../model/broker_load.ts";
import type { ClusterSecret } from "../../ops/cluster_secret.ts";
import type { InternalTls } from "../../ops/internal_tls.ts";

/** The broker a session registers. */
export interface SessionBroker {
  nodeId: number;
  /** The Kafka listener clients connect to. */
  host: string;
  port: number;
  rack: string | null;
  /** Further listeners, such as `replication`. @default {} */
  endpoints?: Record<string, BrokerEndpoint>;
}

/** Options of {@linkcode ControllerSession.connect}. */
export interface ControllerSessionOptions {
  /** Controller `rpc_listen` addresses (`[controller] endpoints` of broker.toml). */
  endpoints: readonly string[];
  broker: SessionBroker;
  logger: Logger;
  /** How often to heartbeat; keep it well under the controller's lease. @default 1000 */
  heartbeatIntervalMs?: number;
  /** Per-request timeout across failovers. @default 15000 */
  requestTimeoutMs?: number;
  /** How long {@linkcode ControllerSession.connect} waits for registration and the first image. @default 30000 */
  connectTimeoutMs?: number;
  /** How long a write waits for the local cache to show its result. @default 5000 */
  catchUpTimeoutMs?: number;
  /** Presented to the controllers on every call (`security.cluster_secret_file`). @default null */
  clusterSecret?: ClusterSecret | null;
  /** Mutual TLS with the controllers (`security.internal_tls_*`). @default null (plaintext) */
  tls?: InternalTls | null;
}

/** A registered broker's live link to the controllers. */
export class ControllerSession {
  readonly client: ControllerClient;
  readonly cache: MetadataCache = new MetadataCache();
  readonly broker: SessionBroker;
  readonly #log: Logger;
  readonly #heartbeatMs: number;
  readonly #catchUpMs: number;
  #brokerEpoch = -1;
  #leaseMs = 0;
  #closed = false;
  /** Set by a controlled shutdown: the broker is leaving and must stay fenced. */
  #closedHeartbeats = false;
  /** The heartbeat under way, if any. */
  #heartbeating: Promise<void> = Promise.resolve();
  #heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  #watchCall: grpc.ClientReadableStream<WatchEvent> | null = null;
  #watchRetryTimer: ReturnType<typeof setTimeout> | null = null;
  #lastHeartbeatOkMs = 0;
  #loadSource: (() => BrokerLoad) | null = null;

  private constructor(options: ControllerSessionOptions) {
    this.client = new ControllerClient({
      endpoints: options.endpoints,
      clusterSecret: options.clusterSecret ?? null,
      tls: options.tls ?? null,
      ...(options.requestTimeoutMs !== undefined
        ? { requestTimeoutMs: options.requestTimeoutMs }
        : {}),
    });
    this.broker = options.broker;
    this.#log = options.logger;
    this.#heartbeatMs = options.heartbeatIntervalMs ?? 1000;
    this.#catchUpMs = options.catchUpTimeoutMs ?? 5000;
    if (!Number.isInteger(this.#heartbeatMs) || this.#heartbeatMs < 1) {
      throw new RangeError(
        `Cannot start a session as heartbeatIntervalMs must be >= 1: current value is ${this.#heartbeatMs}`,
      );
    }
  }

  /**
   * Registers the broker, starts heartbeating and watching, and resolves once the cache holds
   * an image that includes the registration.
   */
  static async connect(options: ControllerSessionOptions): Promise<ControllerSession> {
    const s = new ControllerSession(options);
    try {
      const index = await s.#register();
      s.#watch();
      s.#scheduleHeartbeat();
      const ok = await s.cache.waitIndex(index, options.connectTimeoutMs ?? 30_000);
      if (!ok) {
        throw new MetadataError("TIMEOUT", "Cannot start a session as no metadata image arrived");
      }
    } catch (err) {
      s.close();
      throw err;
    }
    return s;
  }

  /** The epoch of the current registration. */
  get brokerEpoch(): number {
    return this.#brokerEpoch;
  }

  /** The lease the controller grants, in ms. */
  get leaseMs(): number {
    return this.#leaseMs;
  }

  /** Whether the controllers consider this broker fenced, per the cached metadata. */
  get fenced(): boolean {
    return this.cache.brokers().find((b) => b.nodeId === this.broker.nodeId)?.fenced ?? true;
  }

  /**
   * Runs a write and waits (bounded) until the local cache shows it. The request gets an
   * idempotency key, the same on every failover retry, so a retried write applies once.
   */
  async write<T>(method: string, request: Record<string, unknown>): Promise<T> {
    const reply = await this.client.call<T>(method, { ...request, key: crypto.randomUUID() });
    const caughtUp = await this.cache.waitIndex(reply.index, this.#catchUpMs);
    if (!caughtUp) {
      this.#log.warn("metadata cache lags behind a write", { index: reply.index });
    }
    return reply.value;
  }

  /**
   * Controlled shutdown: stops heartbeating (so the controllers do not lift the fence), asks
   * them to hand this broker's leaderships to other in-sync replicas and drop it from the ISRs,
   * and waits (at most `timeoutMs`) until the local metadata shows it leads nothing. Resolves
   * with how many partitions it still leads and how long it took; never rejects, since the
   * broker stops either way.
   */
  async controlledShutdown(
    timeoutMs: number,
  ): Promise<{ leaders: number; ms: number; error?: string }> {
    const t0 = Date.now();
    this.#closedHeartbeats = true;
    if (this.#heartbeatTimer !== null) clearTimeout(this.#heartbeatTimer);
    // A heartbeat that reached the leader after the shutdown would lift the fence again.
    await this.#heartbeating;
    const nodeId = this.broker.nodeId;
    const leaders = () =>
      this.cache.topics().reduce(
        (n, t) => n + t.partitions.filter((p) => p.leader === nodeId).length,
        0,
      );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([
        this.write("Propose", {
          v: 1,
          cmd: { v: 1, op: "controlled_shutdown", nodeId, brokerEpoch: this.#brokerEpoch },
        }),
        deadline,
      ]);
      return { leaders: leaders(), ms: Date.now() - t0 };
    } catch (err) {
      return { leaders: leaders(), ms: Date.now() - t0, error: String(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops heartbeating (the controllers will fence the broker after its lease) and watching. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeatTimer !== null) clearTimeout(this.#heartbeatTimer);
    if (this.#watchRetryTimer !== null) clearTimeout(this.#watchRetryTimer);
    this.#watchCall?.cancel();
    this.cache.releaseWaiters();
    this.client.close();
  }

  async #register(): Promise<number> {
    const b = this.broker;
    const reply = await this.client.call<{ brokerEpoch: number; leaseMs: number }>("Register", {
      v: 1,
      key: crypto.randomUUID(),
      nodeId: b.nodeId,
      host: b.host,
      port: b.port,
      rack: b.rack,
      endpoints: b.endpoints ?? {},
    });
    this.#brokerEpoch = reply.value.brokerEpoch;
    this.#leaseMs = reply.value.leaseMs;
    this.#lastHeartbeatOkMs = Date.now();
    this.#log.info("registered with the controllers", {
      nodeId: b.nodeId,
      epoch: this.#brokerEpoch,
      leaseMs: this.#leaseMs,
    });
    return reply.index;
  }

  /** Attaches the broker's load to every heartbeat from now on (for the auto-balancer). */
  setLoadSource(source: () => BrokerLoad): void {
    this.#loadSource = source;
  }

  #scheduleHeartbeat(): void {
    if (this.#closed || this.#closedHeartbeats) return;
    this.#heartbeatTimer = setTimeout(() => {
      this.#heartbeating = this.#heartbeat();
    }, this.#heartbeatMs);
  }

  async #heartbeat(): Promise<void> {
    try {
      const load = this.#loadSource?.();
      await this.client.call("Heartbeat", {
        v: 1,
        nodeId: this.broker.nodeId,
        brokerEpoch: this.#brokerEpoch,
        ...(load === undefined ? {} : { load }),
      });
      this.#lastHeartbeatOkMs = Date.now();
    } catch (err) {
      const code = (err as MetadataError).code;
      if (!this.#closed && (code === "BROKER_NOT_REGISTERED" || code === "STALE_BROKER_EPOCH")) {
        this.#log.warn("registration lost; registering again", { code });
        await this.#register().catch((e) => this.#log.warn("cannot register", { err: String(e) }));
      } else if (!this.#closed) {
        this.#log.warn("heartbeat failed", { err: String(err) });
      }
    } finally {
      this.#scheduleHeartbeat();
    }
  }

  #watch(): void {
    if (this.#closed) return;
    const i = this.client.currentIndex;
    const client = this.client.clientAt(i);
    const call = (client as unknown as {
      WatchMetadata(req: unknown): grpc.ClientReadableStream<WatchEvent>;
    }).WatchMetadata({ v: 1 });
    this.#watchCall = call;
    let failed = false;
    const retry = (why: string) => {
      if (failed || this.#closed) return;
      failed = true;
      this.#log.debug("metadata watch ended; reconnecting", { why });
      this.client.rotate();
      this.#watchRetryTimer = setTimeout(() => this.#watch(), 200);
    };
    call.on("data", (event: WatchEvent) => {
      if (event.type === "image") this.cache.applyImage(event.image as MetadataImage);
      else this.cache.applyDelta(event.delta);
    });
    call.on("error", (err: Error) => retry(err.message));
    call.on("end", () => retry("end"));
  }
}
