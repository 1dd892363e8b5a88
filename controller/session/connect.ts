/**
 * One call for a broker joining a cluster: open a {@linkcode ControllerSession} and get the
 * metadata and manifest views over it.
 *
 * @module
 */

import { ControllerSession, type ControllerSessionOptions } from "./controller_session.ts";
import { RemoteClusterMetadata } from "./remote_cluster_metadata.ts";
import { RemoteObjectManifest } from "./remote_object_manifest.ts";

/** What a broker uses in place of `LocalMetadata` and `LocalObjectManifest`. */
export interface ControllerConnection {
  session: ControllerSession;
  metadata: RemoteClusterMetadata;
  manifest: RemoteObjectManifest;
  /** Stops heartbeats and the watch; the controllers fence the broker after its lease. */
  close(): void;
  /** Hands leaderships away before stopping (see {@linkcode ControllerSession.controlledShutdown}). */
  controlledShutdown(timeoutMs: number): Promise<{ leaders: number; ms: number; error?: string }>;
}

/**
 * Registers the broker with the controllers and resolves once its metadata cache is current.
 *
 * @example
 * ```ts ignore
 * const conn = await connectToControllers({
 *   endpoints: cfg.controller.endpoints,            // ["c1:9094", "c2:9094", "c3:9094"]
 *   broker: { nodeId, host: advertisedHost, port: kafkaPort, rack: cfg.broker.rack_id || null },
 *   heartbeatIntervalMs: cfg.controller.heartbeat_interval_ms,
 *   logger,
 * });
 * const broker = await Broker.start(cfg, { ..., metadata: conn.metadata });
 * ```
 */
export async function connectToControllers(
  options: ControllerSessionOptions,
): Promise<ControllerConnection> {
  const session = await ControllerSession.connect(options);
  return {
    session,
    metadata: new RemoteClusterMetadata(session),
    manifest: new RemoteObjectManifest(session),
    close: () => session.close(),
    controlledShutdown: (timeoutMs) => session.controlledShutdown(timeoutMs),
  };
}
