/**
 * The broker's consumer-group coordinator (Kafka's classic group protocol) and committed
 * offsets.
 *
 * - {@linkcode GroupCoordinator}: the sans-IO membership state machine (JoinGroup, SyncGroup,
 *   Heartbeat, LeaveGroup, static membership, fencing), driven by injected {@linkcode Clock}.
 * - {@linkcode OffsetStore}: the committed-offset cache in front of `__consumer_offsets`, whose
 *   records use Kafka's own key/value layout ({@linkcode encodeOffsetKey}).
 * - {@linkcode GroupService}: the driver one broker owns (real timers, the internal topic,
 *   start-up rebuild, offset expiry); handlers reach it as `ctx.broker.groups`.
 * - Its ten Kafka APIs are served by `broker/kafka_api/group_handlers.ts`, `offset_handlers.ts`
 *   and `group_admin_handlers.ts`.
 *
 * Not persisted: group membership (generation, members, assignments). After a restart groups
 * come back Empty (with their offsets) and consumers rejoin, as they do after a coordinator
 * failover in Kafka.
 *
 * @module
 */

export { GroupCoordinator, type GroupCoordinatorOptions } from "./group_coordinator.ts";
export type {
  CommitIdentity,
  DescribedGroup,
  DescribedMember,
  GroupProtocol,
  GroupState,
  HeartbeatRequest,
  JoinMember,
  JoinRequest,
  JoinResult,
  LeaveResult,
  LeavingMember,
  ListedGroup,
  SyncRequest,
  SyncResult,
} from "./group_types.ts";
export {
  type FetchedOffset,
  type OffsetCommitEntry,
  type OffsetCommitOutcome,
  type OffsetLog,
  type OffsetLogRecord,
  OffsetStore,
  type OffsetStoreOptions,
} from "./offset_store.ts";
export {
  decodeOffsetKey,
  decodeOffsetValue,
  encodeOffsetKey,
  encodeOffsetValue,
  type OffsetKey,
  OffsetRecordError,
  offsetsPartitionFor,
  type OffsetValue,
} from "./offset_record.ts";
export {
  type CoordinatorLocation,
  GroupService,
  type GroupServiceDeps,
  type GroupServiceOptions,
  OFFSETS_TOPIC,
} from "./group_service.ts";
