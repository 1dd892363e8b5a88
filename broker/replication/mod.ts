/**
 * Leader/follower replication building blocks: sans-IO state machines (epoch cache, leader-side
 * ISR/HW/ack tracking, follower truncation and fetch decisions, WAL truncation markers) and
 * thin drivers (the replica fetcher, the promise-based leader driver, the
 * OffsetForLeaderEpoch route).
 *
 * @module
 */
export {
  assignEpochsFromBatches,
  type EpochCachePersistence,
  EpochCheckpointCorruptError,
  type EpochEndOffset,
  type EpochEntry,
  LeaderEpochCache,
  type LeaderEpochCacheOptions,
  LeaderEpochCheckpoint,
  UNDEFINED_EPOCH,
  UNDEFINED_EPOCH_OFFSET,
} from "./leader_epoch_cache.ts";
export {
  type AckErrorCode,
  ackLevelFromWire,
  type AckOutcome,
  type AckWait,
  type ReplicaAckLevel,
  ReplicaTracker,
  type ReplicaTrackerOptions,
  type TrackerAction,
} from "./replica_tracker.ts";
export {
  LeaderReplication,
  type LeaderReplicationOptions,
  type ReplicationClock,
} from "./leader_replication.ts";
export {
  type FetchAnswer,
  type FollowerAction,
  type FollowerLogView,
  type FollowerPhase,
  type FollowerRequest,
  FollowerState,
  type FollowerStateOptions,
  type LeaderEpochAnswer,
  type LeaderOffsetsAnswer,
  type TruncationDecision,
  truncationOffset,
} from "./follower_state.ts";
export {
  type FetchRoundResult,
  type FollowerSink,
  LIST_OFFSETS_VERSION,
  OFFSET_FOR_LEADER_EPOCH_VERSION,
  REPLICA_FETCH_VERSION,
  ReplicaFetcher,
  type ReplicaFetcherOptions,
  ReplicaFetchError,
} from "./replica_fetcher.ts";
export {
  type LeaderPartitionState,
  type ReplicaFetchPartition,
  type ReplicaFetchVerdict,
  validateReplicaFetch,
} from "./replica_fetch_validation.ts";
export {
  answerOffsetForLeaderEpoch,
  type LeaderEpochLookup,
  type LeaderEpochLookupResult,
} from "./leader_epoch_lookup.ts";
export {
  type AppliedTruncations,
  applyTruncations,
  type ApplyTruncationsOptions,
  decodeTruncationMarker,
  encodeTruncationMarker,
  markerWalBaseOffset,
  type TruncatableEntry,
  TRUNCATION_MARKER_BYTES,
  type TruncationMarker,
} from "./wal_truncation.ts";
