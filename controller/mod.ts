/**
 * The controller role: the Raft-replicated metadata state machine, its driver and transports,
 * the admin REST API, and the broker-side clients that consume it.
 *
 * Brokers in a cluster use {@linkcode ControllerSession} with {@linkcode RemoteClusterMetadata}
 * and {@linkcode RemoteObjectManifest}; `rustmq standalone` embeds an
 * {@linkcode EmbeddedController}. See `controller/README.md` for the design.
 *
 * @module
 */

export { type AdminApiOptions, clusterHealth, mountAdminApi, topicJson } from "./admin_api.ts";
export { type BrokerReply, BrokerServiceServer, prepareExternalCommand } from "./broker_service.ts";
export {
  Controller,
  type ControllerAddrs,
  type ControllerStartOptions,
  electionTicksOf,
  parsePeers,
} from "./controller.ts";
export {
  ControllerNode,
  type ControllerNodeOptions,
  type ControllerStatus,
  type ExecuteResult,
} from "./controller_node.ts";
export { EmbeddedController, type EmbeddedControllerOptions } from "./embedded_controller.ts";
export {
  type ClientReply,
  ControllerClient,
  type ControllerClientOptions,
} from "./session/controller_client.ts";
export {
  ControllerSession,
  type ControllerSessionOptions,
  type SessionBroker,
} from "./session/controller_session.ts";
export { connectToControllers, type ControllerConnection } from "./session/connect.ts";
export { MetadataCache } from "./session/metadata_cache.ts";
export { RemoteClusterMetadata } from "./session/remote_cluster_metadata.ts";
export { RemoteObjectManifest } from "./session/remote_object_manifest.ts";
export {
  type BrokerEndpoint,
  type CommandEnvelope,
  commandProblem,
  type MetadataCommand,
} from "./metadata/commands.ts";
export {
  fromWireError,
  HTTP_STATUS_OF_CODE,
  MetadataError,
  toWireError,
  type WireError,
} from "./metadata/errors.ts";
export { imageOf, type MetadataImage, type WatchEvent } from "./metadata/image.ts";
export { type ExpiredLease, LeaseTracker } from "./metadata/lease_tracker.ts";
export { ManifestIndex, type ManifestState } from "./metadata/manifest_state.ts";
export { type PlacementBroker, placeReplicas } from "./metadata/placement.ts";
export {
  type ApplyResult,
  type BrokerRecord,
  emptyMetadataState,
  type MetadataDelta,
  type MetadataStateData,
  MetadataStateMachine,
  partitionHealth,
  type PartitionRecord,
  type TopicRecord,
} from "./metadata/state_machine.ts";
export {
  GrpcRaftTransport,
  type GrpcRaftTransportOptions,
} from "./transport/grpc_raft_transport.ts";
export {
  type ForwardReply,
  type ForwardRequest,
  LoopbackTransport,
  type PeerStatus,
  type RaftTransport,
  type RaftTransportHandler,
} from "./transport/raft_transport.ts";
