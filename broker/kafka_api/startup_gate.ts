/**
 * The frame handler a broker serves while it starts. The listeners are bound first, because the
 * advertised port is only known once they are, so connections can arrive before partitions are
 * recovered. Kafka clients open with ApiVersions: the gate answers it at once from the route
 * table (it needs no broker state), and holds every other request until the broker can serve
 * it, then routes it normally. No request is dropped and no connection closed for being early.
 *
 * @module
 */

import { Reader } from "../../protocol/kafka/wire.ts";
import { decodeRequestHeader } from "../../protocol/kafka/header.ts";
import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import type { FrameHandler } from "../net/frame_handler.ts";
import type { BrokerContext } from "./broker_context.ts";
import { type AnyRoute, createRequestRouter } from "./request_router.ts";

/** Answers ApiVersions during start-up and holds other requests until {@linkcode open}. */
export class StartupGate {
  #route: FrameHandler | null = null;
  #failure: Error | null = null;
  #waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  readonly #versions: FrameHandler;

  /** `routes` is the table the broker will serve, so ApiVersions advertises the same APIs. */
  constructor(routes: readonly AnyRoute[]) {
    // Only ApiVersions frames reach this router, and its handler reads no broker context.
    const starting = new Proxy({}, {
      get: () => {
        throw new Error("Cannot use the broker context as the broker is still starting");
      },
    }) as BrokerContext;
    this.#versions = createRequestRouter(routes, starting);
  }

  /** The handler to give the listeners; valid before and after {@linkcode open}. */
  readonly handler: FrameHandler = async (frame, conn) => {
    if (this.#route !== null) return this.#route(frame, conn);
    if (decodeRequestHeader(new Reader(frame)).apiKey === ApiKey.ApiVersions) {
      return this.#versions(frame, conn);
    }
    await this.#ready();
    return this.#route!(frame, conn);
  };

  /** True once the broker serves every request. */
  get open(): boolean {
    return this.#route !== null;
  }

  /** Starts routing with the broker's real router and releases the held requests. */
  openWith(route: FrameHandler): void {
    this.#route = route;
    for (const w of this.#waiters.splice(0)) w.resolve();
  }

  /** Start-up failed: held requests fail (their connections close as the process stops). */
  fail(error: Error): void {
    this.#failure = error;
    for (const w of this.#waiters.splice(0)) w.reject(error);
  }

  #ready(): Promise<void> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }
}
