/**
 * The broker-facing gRPC API (`BrokerService` on `rpc_listen`). Every controller serves it:
 * writes and heartbeats are forwarded to the Raft leader by {@linkcode ControllerNode}, and
 * metadata is served from the local state machine, which brokers follow through
 * `WatchMetadata` (an image, then one delta per applied change).
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { ControllerNode } from "./controller_node.ts";
import { commandProblem, INTERNAL_OPS, type MetadataCommand } from "./metadata/commands.ts";
import { MetadataError, toWireError, type WireError } from "./metadata/errors.ts";
import { wasmModuleBytes } from "./metadata/state_machine.ts";
import { Buffer } from "node:buffer";
import { imageOf, type MetadataImage, type WatchEvent } from "./metadata/image.ts";
import { randomTopicId } from "../model/cluster_metadata.ts";
import { bindServer, BROKER_SERVICE, GRPC_MESSAGE_BYTES_MAX } from "./transport/grpc_codec.ts";
import type { Logger } from "../ops/logger.ts";
import type { CloseOptions } from "./transport/raft_transport.ts";
import type { ClusterSecret } from "../ops/cluster_secret.ts";
import type { InternalTls } from "../ops/internal_tls.ts";
import { serverInterceptors } from "./transport/cluster_auth.ts";

/** A unary reply of the BrokerService. */
export type BrokerReply =
  | { v: 1; ok: true; value: unknown; index: number }
  | { v: 1; ok: false; error: WireError };

/** Bytes a watch stream may buffer for a slow broker before it is cut (the broker resyncs). */
const WATCH_BUFFER_BYTES_MAX = 64 * 1024 * 1024;

/**
 * Fills what a proposer must choose (a new topic's id) and refuses operations reserved for the
 * controller itself.
 */
export function prepareExternalCommand(cmd: unknown): MetadataCommand {
  const problem = commandProblem(cmd);
  if (problem !== null) throw new MetadataError("INVALID_REQUEST", `Invalid command: ${problem}`);
  const c = cmd as MetadataCommand;
  if (INTERNAL_OPS.has(c.op)) {
    throw new MetadataError("FORBIDDEN", `Command '${c.op}' is reserved for the controller`);
  }
  if (c.op === "create_topic" && c.topicId === "") return { ...c, topicId: randomTopicId() };
  return c;
}

/** The idempotency key a request carries, as `execute` options. */
function _keyOf(r: Record<string, unknown>): { requestKey?: string } {
  return typeof r.key === "string" ? { requestKey: r.key } : {};
}

/** The running BrokerService. */
export class BrokerServiceServer {
  readonly #server: grpc.Server;
  readonly #node: ControllerNode;
  readonly #log: Logger;
  readonly #watches = new Set<grpc.ServerWritableStream<unknown, WatchEvent>>();
  #port = 0;

  private constructor(node: ControllerNode, log: Logger, secret: ClusterSecret | null) {
    this.#node = node;
    this.#log = log;
    this.#server = new grpc.Server({
      "grpc.max_receive_message_length": GRPC_MESSAGE_BYTES_MAX,
      "grpc.max_send_message_length": GRPC_MESSAGE_BYTES_MAX,
      // With a cluster secret, a broker (or tool) without it is refused before any handler runs.
      ...serverInterceptors(secret, log, "BrokerService"),
    });
  }

  /**
   * Serves the BrokerService of `node` on `listen` (`host:port`), requiring `clusterSecret`
   * of every caller when one is given, and mutual TLS with `tls`.
   */
  static async start(
    node: ControllerNode,
    listen: string,
    log: Logger,
    clusterSecret: ClusterSecret | null = null,
    tls: InternalTls | null = null,
  ): Promise<BrokerServiceServer> {
    const s = new BrokerServiceServer(node, log, clusterSecret);
    const unary =
      (fn: (req: Record<string, unknown>) => Promise<{ index: number; value: unknown }>) =>
      (
        call: grpc.ServerUnaryCall<Record<string, unknown>, BrokerReply>,
        cb: grpc.sendUnaryData<BrokerReply>,
      ) => {
        Promise.resolve().then(() => fn(call.request)).then(
          (r) => cb(null, { v: 1, ok: true, value: r.value, index: r.index }),
          (err) => cb(null, { v: 1, ok: false, error: toWireError(err) }),
        );
      };
    s.#server.addService(BROKER_SERVICE, {
      Register: unary((r) => s.#register(r)),
      Heartbeat: unary(async (r) => {
        const value = await node.brokerHeartbeat(Number(r.nodeId), Number(r.brokerEpoch), r.load);
        return { index: node.sm.applied, value };
      }),
      GetMetadata: unary(async (r) => {
        if (r.linearizable === true) await node.linearizableRead();
        const image = imageOf(node.sm);
        return { index: image.index, value: image };
      }),
      WatchMetadata: (call: grpc.ServerWritableStream<unknown, WatchEvent>) => s.#watch(call),
      AlterIsr: unary((r) => {
        const { key: _key, ...cmd } = r;
        return node.execute(prepareExternalCommand({ ...cmd, op: "alter_isr" }), _keyOf(r));
      }),
      Propose: unary((r) => node.execute(prepareExternalCommand(r.cmd), _keyOf(r))),
      // Brokers fetch an ETL module's bytes by sha256 once and cache them; the metadata they
      // watch carries only the sha256, so a big module does not ride on every image.
      GetWasmModule: unary((r) => {
        const bytes = wasmModuleBytes(node.sm.wasmModules(), String(r.sha256));
        const bytesBase64 = Buffer.from(bytes).toString("base64");
        return Promise.resolve({ index: node.sm.applied, value: { bytesBase64 } });
      }),
    });
    s.#port = await bindServer(s.#server, listen, tls);
    return s;
  }

  /** The port bound. */
  get port(): number {
    return this.#port;
  }

  /**
   * Ends every watch stream and stops serving. With `processExit` the server is left for the
   * exit to drop, without the GOAWAY its shutdown sends ({@linkcode CloseOptions}).
   */
  async close(options: CloseOptions = {}): Promise<void> {
    for (const call of this.#watches) call.end();
    this.#watches.clear();
    if (options.processExit === true) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 1000);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async #register(r: Record<string, unknown>): Promise<{ index: number; value: unknown }> {
    const cmd = prepareExternalCommand({
      v: 1,
      op: "register_broker",
      nodeId: r.nodeId,
      host: r.host,
      port: r.port,
      rack: r.rack ?? null,
      endpoints: r.endpoints ?? {},
    });
    const result = await this.#node.execute(cmd, _keyOf(r));
    return {
      index: result.index,
      value: {
        brokerEpoch: (result.value as { brokerEpoch: number }).brokerEpoch,
        leaseMs: this.#node.brokerLeaseMs,
        clusterId: this.#node.sm.clusterId,
      },
    };
  }

  #watch(call: grpc.ServerWritableStream<unknown, WatchEvent>): void {
    this.#watches.add(call);
    const sendImage = (image: MetadataImage) => call.write({ v: 1, type: "image", image });
    sendImage(imageOf(this.#node.sm));
    const unsubscribe = this.#node.onDelta((delta) => {
      if (call.writableLength > WATCH_BUFFER_BYTES_MAX) {
        this.#log.warn("cutting a slow metadata watcher");
        call.destroy(new Error("watcher too slow"));
        return;
      }
      if (delta.reset) sendImage(imageOf(this.#node.sm));
      else call.write({ v: 1, type: "delta", delta });
    });
    const done = () => {
      unsubscribe();
      this.#watches.delete(call);
    };
    call.on("cancelled", done);
    call.on("close", done);
    call.on("error", done);
  }
}
