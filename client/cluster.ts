/**
 * The client's view of a cluster: one {@linkcode BrokerConnection} per broker, opened on demand
 * and reopened after a failure, the metadata cache with leader lookup, and the retry loop
 * shared by the producer, the consumer and the admin client.
 *
 * @module
 */

import { ErrorCode } from "../protocol/kafka/errors.ts";
import { createMetadataRequest } from "../protocol/kafka/messages/mod.ts";
import { ZERO_UUID } from "../protocol/kafka/wire.ts";
import { METADATA } from "./api_specs.ts";
import { BrokerConnection, type Dialer } from "./broker_connection.ts";
import type { SaslOptions } from "./sasl.ts";
import { type Clock, sleep } from "../ops/clock.ts";
import type { Random } from "../ops/random.ts";
import { brokerError, ClosedError, isRetriable, NotLeaderError } from "./errors.ts";
import { type BrokerNode, MetadataCache, type TopicInfo } from "./metadata_cache.ts";
import { parseTransportUrl } from "../protocol/transport/connect.ts";

/** How long {@linkcode Cluster.close} waits for transports to finish closing. */
const _CLOSE_WAIT_MS = 1000;

/** Resolved settings of a {@linkcode Cluster}. */
export interface ClusterSettings {
  /** Bootstrap URLs. */
  brokers: readonly string[];
  /** Client id in request headers. */
  clientId: string;
  /** Default request deadline. */
  requestTimeoutMs: number;
  /** First retry backoff. */
  retryBackoffMs: number;
  /** Largest retry backoff. */
  retryBackoffMaxMs: number;
  /** Metadata older than this is refreshed before use. */
  metadataMaxAgeMs: number;
  /** Whether Metadata may auto-create topics. */
  allowAutoTopicCreation: boolean;
  /** URL of a broker learned from Metadata. */
  brokerUrl: (node: BrokerNode, bootstrap: string) => string;
  /** Opens transports. */
  dial: Dialer;
  /** Time source. */
  clock: Clock;
  /** Jitter source. */
  random: Random;
  /** SASL credentials every connection authenticates with. */
  sasl?: SaslOptions;
}

/** Options of {@linkcode Cluster.retry}. */
export interface RetryOptions {
  /** Give up once a retry would start after this clock time. */
  deadlineMs: number;
  /** Called before each retry with the error that caused it. */
  onRetry?: (error: unknown, attempt: number) => void;
  /** Further narrows which retriable errors are retried. @default {all of them} */
  retryIf?: (error: unknown) => boolean;
}

/**
 * The default mapping from a Metadata broker to a URL: the bootstrap's scheme with the
 * advertised host and port (RustMQ serves QUIC on the same port number as TCP). A cluster of
 * one broker reached through one bootstrap URL reuses that URL, so a broker whose QUIC port
 * differs from its Kafka port still works.
 */
export function defaultBrokerUrl(node: BrokerNode, bootstrap: string): string {
  const { protocol } = parseTransportUrl(bootstrap);
  const host = node.host.includes(":") ? `[${node.host}]` : node.host;
  return `${protocol}://${host}:${node.port}`;
}

/**
 * Connections and metadata for one client.
 *
 * @example
 * ```ts ignore
 * const cluster = new Cluster(settings);
 * const conn = await cluster.leaderConnection("orders", 0);
 * ```
 */
export class Cluster {
  /** The resolved settings. */
  readonly settings: ClusterSettings;
  /** The metadata cache. */
  readonly metadata: MetadataCache = new MetadataCache();
  readonly #connections = new Map<string, Promise<BrokerConnection>>();
  readonly #refreshes = new Map<string, Promise<void>>();
  #closed = false;

  /** Creates a cluster view; no connection is opened until one is needed. */
  constructor(settings: ClusterSettings) {
    this.settings = settings;
  }

  /** The clock of this client. */
  get clock(): Clock {
    return this.settings.clock;
  }

  /** True once closed. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Connects to the first bootstrap broker that answers; throws the last error otherwise. */
  async bootstrap(): Promise<BrokerConnection> {
    let last: unknown = new RangeError("Cannot connect as brokers is empty");
    for (const url of this.settings.brokers) {
      try {
        return await this.connection(url);
      } catch (error) {
        last = error;
      }
    }
    throw last;
  }

  /** The open connection to `url`, dialling (again) when there is none. */
  connection(url: string): Promise<BrokerConnection> {
    if (this.#closed) return Promise.reject(new ClosedError("client"));
    const cached = this.#connections.get(url);
    if (cached === undefined) return this.#dial(url);
    const redial = (): Promise<BrokerConnection> => {
      // Concurrent callers that saw the same dead connection share one new dial.
      const now = this.#connections.get(url);
      return now !== undefined && now !== cached ? this.connection(url) : this.#dial(url);
    };
    return cached.then((conn) => conn.isClosed ? redial() : conn, redial);
  }

  #dial(url: string): Promise<BrokerConnection> {
    const entry = BrokerConnection.open(url, this.settings.dial, {
      clientId: this.settings.clientId,
      requestTimeoutMs: this.settings.requestTimeoutMs,
      ...(this.settings.sasl === undefined ? {} : { sasl: this.settings.sasl }),
    }).then((conn) => {
      if (this.#closed) conn.close();
      return conn;
    });
    this.#connections.set(url, entry);
    entry.catch(() => {
      if (this.#connections.get(url) === entry) this.#connections.delete(url);
    });
    return entry;
  }

  /** A connection to any reachable broker (known brokers first, then bootstrap URLs). */
  async anyConnection(): Promise<BrokerConnection> {
    for (const entry of this.#connections.values()) {
      const conn = await entry.catch(() => null);
      if (conn !== null && !conn.isClosed) return conn;
    }
    return await this.bootstrap();
  }

  /** The URL of node `nodeId`, from metadata. */
  urlOf(nodeId: number): string {
    const node = this.metadata.broker(nodeId);
    const bootstrap = this.settings.brokers[0]!;
    if (node === undefined) {
      throw new NotLeaderError(ErrorCode.LEADER_NOT_AVAILABLE, {
        brokerMessage: `node ${nodeId} is not in the metadata`,
      });
    }
    if (this.settings.brokers.length === 1 && this.metadata.brokers().length === 1) {
      return bootstrap;
    }
    return this.settings.brokerUrl(node, bootstrap);
  }

  /** The connection to the controller (or any broker when the controller is unknown). */
  async controllerConnection(): Promise<BrokerConnection> {
    if (this.metadata.controllerId < 0) await this.refreshMetadata([]);
    const id = this.metadata.controllerId;
    if (id < 0 || this.metadata.broker(id) === undefined) return await this.anyConnection();
    return await this.connection(this.urlOf(id));
  }

  /**
   * Asks the cluster for metadata on `topics` (null: all topics). Concurrent refreshes of the
   * same topics share one request. Throws on transport errors only; topic errors are returned.
   */
  refreshMetadata(topics: readonly string[] | null): Promise<void> {
    const key = topics === null ? "\0all" : [...topics].sort().join("\0");
    const running = this.#refreshes.get(key);
    if (running !== undefined) return running;
    const refresh = this.#refresh(topics).finally(() => this.#refreshes.delete(key));
    this.#refreshes.set(key, refresh);
    return refresh;
  }

  async #refresh(topics: readonly string[] | null): Promise<void> {
    const conn = await this.anyConnection();
    const req = createMetadataRequest();
    req.topics = topics === null ? null : topics.map((name) => ({ topicId: ZERO_UUID, name }));
    req.allowAutoTopicCreation = this.settings.allowAutoTopicCreation;
    const res = await conn.request(METADATA, req);
    if (res !== null) this.metadata.update(res, this.clock.nowMs(), topics === null);
  }

  /**
   * The topic's metadata, refreshed when missing or older than `metadataMaxAgeMs`. Throws the
   * topic's typed error (`UnknownTopicError`, ...) when the cluster reports one.
   */
  async topic(name: string): Promise<TopicInfo> {
    const cached = this.metadata.topic(name);
    const nowMs = this.clock.nowMs();
    if (cached !== undefined && nowMs - cached.updatedAtMs < this.settings.metadataMaxAgeMs) {
      return cached;
    }
    await this.refreshMetadata([name]);
    const info = this.metadata.topic(name);
    if (info !== undefined) return info;
    const conn = await this.anyConnection();
    // Ask once more for the error code: the shared refresh does not return it.
    const req = createMetadataRequest();
    req.topics = [{ topicId: ZERO_UUID, name }];
    req.allowAutoTopicCreation = this.settings.allowAutoTopicCreation;
    const res = await conn.request(METADATA, req);
    const code = res?.topics.find((t) => t.name === name)?.errorCode ??
      ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    if (res !== null) this.metadata.update(res, this.clock.nowMs());
    const again = this.metadata.topic(name);
    if (again !== undefined) return again;
    throw brokerError(code === ErrorCode.NONE ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION : code, {
      topic: name,
    });
  }

  /** The connection to the leader of a partition. */
  async leaderConnection(topic: string, partition: number): Promise<BrokerConnection> {
    const info = await this.topic(topic);
    const p = info.partitions[partition];
    if (p === undefined) {
      throw brokerError(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, { topic, partition });
    }
    if (p.leaderId < 0) {
      throw new NotLeaderError(ErrorCode.LEADER_NOT_AVAILABLE, { topic, partition });
    }
    return await this.connection(this.urlOf(p.leaderId));
  }

  /** Backoff before retry number `attempt` (0-based): exponential with ±20% jitter. */
  backoffMs(attempt: number): number {
    const { retryBackoffMs, retryBackoffMaxMs } = this.settings;
    const base = Math.min(retryBackoffMaxMs, retryBackoffMs * 2 ** Math.min(attempt, 30));
    return Math.round(base * (0.8 + 0.4 * this.settings.random.next()));
  }

  /**
   * Runs `op` until it succeeds, retrying retriable errors after a backoff until `deadlineMs`.
   * Programmer errors and non-retriable typed errors are thrown at once.
   */
  async retry<T>(op: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
    for (let attempt = 0;; attempt++) {
      try {
        return await op(attempt);
      } catch (error) {
        const waitMs = this.backoffMs(attempt);
        if (
          this.#closed || !isRetriable(error) || options.retryIf?.(error) === false ||
          this.clock.nowMs() + waitMs > options.deadlineMs
        ) {
          throw error;
        }
        options.onRetry?.(error, attempt);
        await sleep(this.clock, waitMs);
      }
    }
  }

  /**
   * Closes every connection and waits, up to a second, until each transport has finished
   * closing; later calls fail with `ClosedError`. The wait matters to a process that exits
   * next: QUIC sends its close from the runtime's own task, and a process gone before that
   * leaves the broker holding the connection until its idle timeout.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const entries = [...this.#connections.values()];
    this.#connections.clear();
    const closing: Promise<unknown>[] = [];
    for (const entry of entries) {
      const conn = await entry.catch(() => null);
      if (conn === null) continue;
      conn.close();
      closing.push(conn.closed.catch(() => {}));
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(closing),
      new Promise((resolve) => timer = setTimeout(resolve, _CLOSE_WAIT_MS)),
    ]);
    clearTimeout(timer);
  }
}
