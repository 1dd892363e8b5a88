/**
 * Plain data types of the Raft core: log entries, durable state, snapshots and the messages
 * peers exchange.
 *
 * Everything here is a plain object of strings, numbers, booleans and arrays, so a transport can
 * carry it as JSON (or map it onto protobuf) without a custom codec. Every message carries
 * `v: 1` so that a later format can be told apart on the wire.
 *
 * @module
 */

/** A controller's identity in the quorum, e.g. `"controller-1"`. */
export type NodeId = string;

/** What a log entry holds: an application command or a new voter set. */
export type EntryKind = "normal" | "config";

/** One entry of the replicated log. `data` is opaque to Raft for `normal` entries. */
export interface Entry {
  index: number;
  term: number;
  kind: EntryKind;
  /** Application command text; for `config` entries a JSON {@linkcode ConfigEntryData}. */
  data: string;
}

/** A single-server membership change. */
export interface ConfChange {
  op: "add" | "remove";
  nodeId: NodeId;
}

/**
 * The payload of a `config` entry. It carries the whole new voter set, not only the change, so
 * the configuration at any index is simply the latest config entry at or before it.
 */
export interface ConfigEntryData {
  change: ConfChange;
  voters: NodeId[];
}

/** The state that must be on disk before any message that depends on it leaves the node. */
export interface HardState {
  term: number;
  vote: NodeId | null;
  /** The commit index is stored only so a restart can re-apply sooner; it is never trusted blindly. */
  commit: number;
}

/** A state-machine snapshot covering every entry up to and including `index`. */
export interface Snapshot {
  index: number;
  term: number;
  /** The voter set in force at `index`. */
  voters: NodeId[];
  /** Opaque state-machine bytes, as text so the snapshot stays JSON-safe. */
  data: string;
}

/** Everything a storage backend gives back on start. */
export interface PersistedState {
  hardState: HardState;
  snapshot: Snapshot;
  /** Entries after `snapshot.index`, contiguous. */
  entries: Entry[];
}

/** Fields every Raft message carries. */
export interface MessageBase {
  v: 1;
  from: NodeId;
  to: NodeId;
  term: number;
}

/** A pre-vote request: "would you vote for me at `term`?" It changes no one's term. */
export interface PreVoteMessage extends MessageBase {
  type: "pre_vote";
  lastLogIndex: number;
  lastLogTerm: number;
}

/** A vote request. `transfer` marks an election started by a leadership transfer. */
export interface VoteMessage extends MessageBase {
  type: "vote";
  lastLogIndex: number;
  lastLogTerm: number;
  transfer: boolean;
}

/** The answer to a pre-vote request. */
export interface PreVoteResponseMessage extends MessageBase {
  type: "pre_vote_response";
  granted: boolean;
}

/** The answer to a vote request. */
export interface VoteResponseMessage extends MessageBase {
  type: "vote_response";
  granted: boolean;
}

/** AppendEntries: entries after (`prevIndex`, `prevTerm`) plus the leader's commit index. */
export interface AppendMessage extends MessageBase {
  type: "append";
  prevIndex: number;
  prevTerm: number;
  entries: Entry[];
  commit: number;
}

/**
 * The answer to an append or snapshot. On success `index` is the last index known to match the
 * leader. On rejection `index` echoes the rejected `prevIndex`, and (`hintIndex`, `hintTerm`) let
 * the leader skip a whole conflicting term at once.
 */
export interface AppendResponseMessage extends MessageBase {
  type: "append_response";
  index: number;
  reject: boolean;
  hintIndex: number;
  hintTerm: number;
}

/** A heartbeat. `context` is non-empty when it also confirms leadership for a ReadIndex. */
export interface HeartbeatMessage extends MessageBase {
  type: "heartbeat";
  commit: number;
  context: string;
}

/** The answer to a heartbeat, echoing its `context`. */
export interface HeartbeatResponseMessage extends MessageBase {
  type: "heartbeat_response";
  context: string;
}

/** InstallSnapshot, sent when a follower needs entries the leader has compacted away. */
export interface SnapshotMessage extends MessageBase {
  type: "snapshot";
  snapshot: Snapshot;
}

/** Tells the transfer target to start an election now, skipping pre-vote. */
export interface TimeoutNowMessage extends MessageBase {
  type: "timeout_now";
}

/** Every message a Raft node sends or receives. */
export type RaftMessage =
  | PreVoteMessage
  | VoteMessage
  | PreVoteResponseMessage
  | VoteResponseMessage
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | TimeoutNowMessage;

/** A confirmed ReadIndex: serve the read for `context` once the state machine reaches `index`. */
export interface ReadState {
  context: string;
  index: number;
}

/**
 * One batch of work for the driver. Handle it in this order:
 * 1. persist `snapshot`, `entries` (they replace the log from `entries[0].index`) and
 *    `hardState`, and make them durable;
 * 2. send `messages`;
 * 3. restore `snapshotToApply`, then apply `committedEntries`, then serve `readStates`;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  hardState: HardState | null;
  entries: Entry[];
  snapshot: Snapshot | null;
  messages: RaftMessage[];
  snapshotToApply: Snapshot | null;
  committedEntries: Entry[];
  readStates: ReadState[];
}

/** The role a node plays in its current term. */
export type Role = "follower" | "pre_candidate" | "candidate" | "leader";
