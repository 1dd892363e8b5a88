/**
 * `RustMqClient`: the entry point of the SDK. It connects to a RustMQ (or Kafka) cluster over
 * QUIC, TCP or TLS, keeps one connection per broker and a metadata cache, and creates
 * producers, consumers and admin clients that share them.
 *
 * @module
 */

import { checkSaslOptions, type SaslOptions } from "./sasl.ts";
import type { Dialer } from "./broker_connection.ts";
import { type Clock, systemClock } from "../ops/clock.ts";
import { type Random, systemRandom } from "../ops/random.ts";
import { Cluster, defaultBrokerUrl } from "./cluster.ts";
import { Admin } from "./admin.ts";
import { Consumer, type ConsumerOptions } from "./consumer.ts";
import { GroupConsumer, type GroupConsumerOptions } from "./group_consumer.ts";
import type { BrokerNode } from "./metadata_cache.ts";
import { Producer, type ProducerOptions } from "./producer.ts";
import { connect, parseTransportUrl } from "../protocol/transport/connect.ts";

/** TLS settings for `tls://` and `quic://` brokers. */
export interface ClientTlsOptions {
  /** Extra PEM root certificates to trust, such as a dev CA. @default {system roots} */
  caCerts?: string[];
  /** Name to verify the broker certificate against. @default {the URL's host} */
  serverName?: string;
}

/** Options of {@linkcode RustMqClient.connect}. */
export interface ClientOptions {
  /** Bootstrap URLs: `quic://host:9092`, `tcp://host:9092` or `tls://host:9092`. */
  brokers: readonly string[];
  /** TLS settings for tls:// and quic://. @default {{}} */
  tls?: ClientTlsOptions;
  /** Deadline for opening a connection, handshakes included. @default {10000} */
  connectTimeoutMs?: number;
  /** Deadline of each request. @default {30000} */
  requestTimeoutMs?: number;
  /** Client id sent to brokers. @default {"rustmq-ts"} */
  clientId?: string;
  /** First backoff between retries and reconnects. @default {100} */
  retryBackoffMs?: number;
  /** Largest backoff. @default {1000} */
  retryBackoffMaxMs?: number;
  /** Refresh cached metadata older than this. @default {300000} */
  metadataMaxAgeMs?: number;
  /** Let Metadata requests auto-create topics (when the broker allows it). @default {true} */
  allowAutoTopicCreation?: boolean;
  /** Requests in flight per connection (TCP default 5, QUIC default 100). */
  maxInFlightRequests?: number;
  /** URL of a broker learned from Metadata. @default {bootstrap scheme, advertised host:port} */
  brokerUrl?: (node: BrokerNode, bootstrap: string) => string;
  /** Opens transports; replace it to wrap or fault connections in tests. @default {connect} */
  dial?: Dialer;
  /** Time source. @default {systemClock} */
  clock?: Clock;
  /** Jitter source. @default {Math.random} */
  random?: Random;
  /**
   * SASL credentials, for a SASL_PLAINTEXT or SASL_SSL listener and for QUIC on such a broker:
   * every connection authenticates right after ApiVersions. @default {none}
   */
  sasl?: SaslOptions;
}

function _checkMs(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot connect as ${name} must be a non-negative integer: current value is ${value}`,
    );
  }
  return value;
}

/**
 * A connection to a cluster.
 *
 * @example
 * ```ts ignore
 * import { RustMqClient } from "./client.ts";
 * const client = await RustMqClient.connect({
 *   brokers: ["quic://localhost:9092"],
 *   tls: { caCerts: [await Deno.readTextFile("data/tls/ca.pem")] },
 * });
 * const producer = client.producer();
 * await producer.send({ topic: "greetings", value: "hello" });
 * await client.close();
 * ```
 *
 * @example Options are checked before anything is dialled
 * ```ts
 * import { RustMqClient } from "./client.ts";
 * import assert from "node:assert/strict";
 * await assert.rejects(RustMqClient.connect({ brokers: ["http://x"] }), RangeError);
 * ```
 */
export class RustMqClient {
  readonly #cluster: Cluster;
  readonly #producers = new Set<Producer>();
  readonly #consumers = new Set<Consumer>();

  private constructor(cluster: Cluster) {
    this.#cluster = cluster;
  }

  /**
   * Connects to the first reachable bootstrap broker and negotiates API versions. Rejects with
   * `ConnectionError`, `TimeoutError`, or `RangeError` for invalid options.
   */
  static async connect(options: ClientOptions): Promise<RustMqClient> {
    if (options.brokers.length === 0) {
      throw new RangeError("Cannot connect as brokers is empty: current value is []");
    }
    for (const url of options.brokers) parseTransportUrl(url);
    const connectTimeoutMs = _checkMs("connectTimeoutMs", options.connectTimeoutMs ?? 10_000);
    const tls = options.tls ?? {};
    const dial: Dialer = options.dial ?? ((url) =>
      connect(url, {
        connectTimeoutMs,
        ...(tls.caCerts === undefined ? {} : { caCerts: tls.caCerts }),
        ...(tls.serverName === undefined ? {} : { serverName: tls.serverName }),
        ...(options.maxInFlightRequests === undefined
          ? {}
          : { maxInFlightRequests: options.maxInFlightRequests }),
      }));
    const cluster = new Cluster({
      brokers: [...options.brokers],
      clientId: options.clientId ?? "rustmq-ts",
      requestTimeoutMs: _checkMs("requestTimeoutMs", options.requestTimeoutMs ?? 30_000),
      retryBackoffMs: _checkMs("retryBackoffMs", options.retryBackoffMs ?? 100),
      retryBackoffMaxMs: _checkMs("retryBackoffMaxMs", options.retryBackoffMaxMs ?? 1000),
      metadataMaxAgeMs: _checkMs("metadataMaxAgeMs", options.metadataMaxAgeMs ?? 300_000),
      allowAutoTopicCreation: options.allowAutoTopicCreation ?? true,
      brokerUrl: options.brokerUrl ?? defaultBrokerUrl,
      dial,
      clock: options.clock ?? systemClock,
      random: options.random ?? systemRandom,
      ...(options.sasl === undefined ? {} : { sasl: checkSaslOptions(options.sasl) }),
    });
    await cluster.bootstrap();
    return new RustMqClient(cluster);
  }

  /** Creates a producer that shares this client's connections. */
  producer(options: ProducerOptions = {}): Producer {
    const producer = new Producer(this.#cluster, options);
    this.#producers.add(producer);
    return producer;
  }

  /** Creates a consumer-group member (see {@linkcode GroupConsumer}) on this client's connections. */
  consumer(options: GroupConsumerOptions): GroupConsumer;
  /** Creates a consumer without a group that shares this client's connections. */
  consumer(options?: ConsumerOptions): Consumer;
  consumer(options: ConsumerOptions | GroupConsumerOptions = {}): Consumer {
    const consumer = "groupId" in options && options.groupId !== undefined
      ? new GroupConsumer(this.#cluster, options)
      : new Consumer(this.#cluster, options);
    this.#consumers.add(consumer);
    return consumer;
  }

  /** The admin client. */
  admin(): Admin {
    return new Admin(this.#cluster);
  }

  /** Brokers known from the last Metadata response. */
  async brokers(): Promise<BrokerNode[]> {
    await this.#cluster.refreshMetadata([]);
    return this.#cluster.metadata.brokers();
  }

  /** Number of partitions of a topic (auto-created when the broker and client allow it). */
  async partitionCount(topic: string): Promise<number> {
    return (await this.#cluster.topic(topic)).partitions.length;
  }

  /** Flushes and closes every producer, closes consumers, then closes all connections. */
  async close(): Promise<void> {
    if (this.#cluster.isClosed) return;
    await Promise.allSettled([...this.#producers].map((p) => p.close()));
    await Promise.allSettled([...this.#consumers].map((c) => c.close()));
    await this.#cluster.close();
  }
}
