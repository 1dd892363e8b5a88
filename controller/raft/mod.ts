/**
 * The controller's Raft consensus: a sans-IO core, its storage backends, and the plain data
 * types that travel between controllers.
 *
 * A driver owns one {@linkcode RaftNode} and loops: feed it ticks and received messages, then
 * for each `Ready` persist (through a {@linkcode RaftStorage}), send, apply, and `advance`.
 *
 * @module
 */

export { AssertionError } from "../../ops/assert.ts";
export {
  ConfChangeRejectedError,
  LeadershipTransferError,
  NotLeaderError,
  ProposalDroppedError,
  RaftError,
  type RaftErrorOptions,
  StorageCorruptError,
} from "./errors.ts";
export { FileStorage, type FileStorageOptions } from "./file_storage.ts";
export { configEntryVoters, RaftNode, type RaftNodeOptions, type RaftStatus } from "./node.ts";
export { type Random, SeededRandom } from "../../ops/random.ts";
export { RaftLog } from "./raft_log.ts";
export {
  applyPersistBatch,
  emptyPersistedState,
  MemoryStorage,
  type PersistBatch,
  type RaftStorage,
} from "./storage.ts";
export type {
  AppendMessage,
  AppendResponseMessage,
  ConfChange,
  ConfigEntryData,
  Entry,
  EntryKind,
  HardState,
  HeartbeatMessage,
  HeartbeatResponseMessage,
  MessageBase,
  NodeId,
  PersistedState,
  PreVoteMessage,
  PreVoteResponseMessage,
  RaftMessage,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SnapshotMessage,
  TimeoutNowMessage,
  VoteMessage,
  VoteResponseMessage,
} from "./types.ts";
