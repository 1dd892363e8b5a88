/**
 * The broker side of the BrokerService: unary calls with failover across the controller
 * endpoints. Any controller serves any request (followers forward writes to the leader), so the
 * client sticks with one endpoint while it answers and moves to the next when it does not.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import {
  BrokerServiceClient,
  channelSecurity,
  GRPC_CHANNEL_OPTIONS,
  unaryCall,
} from "../transport/grpc_codec.ts";
import { fromWireError, MetadataError, type WireError } from "../metadata/errors.ts";
import type { ClusterSecret } from "../../ops/cluster_secret.ts";
import type { InternalTls } from "../../ops/internal_tls.ts";
import { clientInterceptors } from "../transport/cluster_auth.ts";

/** Options of {@linkcode ControllerClient}. */
export interface ControllerClientOptions {
  /** Controller `rpc_listen` addresses, `host:port`. */
  endpoints: readonly string[];
  /** How long one request may take, across every retry. @default 15000 */
  requestTimeoutMs?: number;
  /** Deadline of one attempt. @default 5000 */
  attemptTimeoutMs?: number;
  /** Presented on every call (`security.cluster_secret_file`). @default null */
  clusterSecret?: ClusterSecret | null;
  /** Mutual TLS with the controllers (`security.internal_tls_*`). @default null (plaintext) */
  tls?: InternalTls | null;
}

/** A successful unary reply. */
export interface ClientReply<T> {
  value: T;
  index: number;
}

type _Reply = { v: 1; ok: true; value: unknown; index: number } | {
  v: 1;
  ok: false;
  error: WireError;
};

/**
 * Codes on which another attempt (maybe on another controller) may succeed. TIMEOUT is among
 * them because every write carries an idempotency key: a retry of a write that did land returns
 * its first outcome.
 */
const _RETRY_CODES = new Set([
  "NOT_LEADER",
  "NO_LEADER",
  "UNAVAILABLE",
  "PROPOSAL_DROPPED",
  "TIMEOUT",
]);

/** gRPC statuses that mean "try again, maybe elsewhere". */
const _RETRY_STATUSES = new Set<number>([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.CANCELLED,
  grpc.status.RESOURCE_EXHAUSTED,
  // A controller killed mid-call can surface as RST_STREAM, which grpc-js reports as INTERNAL.
  grpc.status.INTERNAL,
]);

/**
 * A failover client of the BrokerService.
 *
 * @example
 * ```ts ignore
 * const client = new ControllerClient({ endpoints: ["c1:9094", "c2:9094", "c3:9094"] });
 * const { value } = await client.call("GetMetadata", { v: 1 });
 * client.close();
 * ```
 */
export class ControllerClient {
  readonly #endpoints: string[];
  readonly #clients: (grpc.Client | null)[];
  readonly #timeoutMs: number;
  readonly #attemptMs: number;
  readonly #secret: ClusterSecret | null;
  readonly #tls: InternalTls | null;
  #current = 0;
  #closed = false;

  constructor(options: ControllerClientOptions) {
    if (options.endpoints.length === 0) {
      throw new RangeError("Cannot create a controller client as no endpoints were given");
    }
    this.#endpoints = [...options.endpoints];
    this.#clients = this.#endpoints.map(() => null);
    this.#timeoutMs = options.requestTimeoutMs ?? 15_000;
    this.#attemptMs = options.attemptTimeoutMs ?? 5_000;
    this.#secret = options.clusterSecret ?? null;
    this.#tls = options.tls ?? null;
  }

  /** The endpoint requests go to now. */
  get endpoint(): string {
    return this.#endpoints[this.#current]!;
  }

  /** The gRPC client of endpoint `i` (created on first use). */
  clientAt(i: number): grpc.Client {
    let c = this.#clients[i];
    if (c == null) {
      const channel = channelSecurity(this.#tls, this.#endpoints[i]!);
      c = new BrokerServiceClient(
        this.#endpoints[i]!,
        channel.credentials,
        { ...GRPC_CHANNEL_OPTIONS, ...channel.options, ...clientInterceptors(this.#secret) },
      );
      this.#clients[i] = c;
    }
    return c;
  }

  /** The index of the endpoint in use, and moves to the next one. */
  rotate(): number {
    this.#current = (this.#current + 1) % this.#endpoints.length;
    return this.#current;
  }

  /** The index of the endpoint in use. */
  get currentIndex(): number {
    return this.#current;
  }

  /**
   * Calls `method`, failing over across endpoints on unreachable controllers and on retriable
   * answers, until the request timeout. The controller's refusals are thrown as
   * {@linkcode MetadataError}.
   */
  async call<T>(method: string, request: unknown): Promise<ClientReply<T>> {
    const deadline = Date.now() + this.#timeoutMs;
    let last: Error = new MetadataError("UNAVAILABLE", "No controller answered");
    let backoffMs = 25;
    while (!this.#closed && Date.now() < deadline) {
      const i = this.#current;
      const attempt = Math.min(this.#attemptMs, Math.max(1, deadline - Date.now()));
      try {
        const reply = await unaryCall<_Reply>(this.clientAt(i), method, request, attempt);
        if (reply.ok) return { value: reply.value as T, index: reply.index };
        const err = fromWireError(reply.error);
        if (!_RETRY_CODES.has(reply.error.code)) throw err;
        last = err;
      } catch (err) {
        if (err instanceof MetadataError) throw err;
        const e = err as grpc.ServiceError;
        // Another controller of the same cluster holds the same secret: no retry helps.
        if (e.code === grpc.status.UNAUTHENTICATED) {
          throw new MetadataError(
            "UNAUTHENTICATED",
            `Controller ${
              this.#endpoints[i]
            } refused this broker's cluster credentials: ${e.details}`,
            { cause: err, retriable: false },
          );
        }
        // Only a controller that is unreachable, slow or overloaded is worth another try; any
        // other status is a fault of the request or the server that a retry would repeat.
        if (!_RETRY_STATUSES.has(e.code)) {
          throw new MetadataError(
            "INTERNAL",
            `Controller ${this.#endpoints[i]} failed: ${e.details ?? e.message}`,
            {
              cause: err,
              retriable: false,
            },
          );
        }
        // A TLS refusal surfaces as a bare UNAVAILABLE (EPIPE, reset); say where to look.
        const hint = this.#tls === null ? "" : " (internal TLS is on: check that this " +
          "node's security.internal_tls_cert_path is signed by the CA the controllers trust, " +
          "and that their certificates name the address dialled)";
        last = new MetadataError(
          "UNAVAILABLE",
          `Cannot reach controller ${this.#endpoints[i]}: ${e.details ?? e.message}${hint}`,
          { cause: err },
        );
      }
      if (this.#current === i) this.rotate();
      // A full lap without an answer means an election is probably under way: pause.
      if (this.#current === 0) {
        await new Promise((r) => setTimeout(r, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 500);
      }
    }
    throw this.#closed ? new MetadataError("UNAVAILABLE", "The controller client is closed") : last;
  }

  /** Closes every channel. */
  close(): void {
    this.#closed = true;
    for (const c of this.#clients) c?.close();
  }
}
