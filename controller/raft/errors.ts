/**
 * Typed errors of the Raft core. Each has a stable `code` and a `retriable` flag so a caller
 * (the REST API, a gRPC handler, the simulator's clients) can decide what to do without parsing
 * messages.
 *
 * @module
 */

import type { NodeId } from "./types.ts";

/** Options shared by every Raft error. */
export interface RaftErrorOptions {
  code: string;
  retriable: boolean;
  cause?: unknown;
}

/** The base class of every expected Raft failure. */
export class RaftError extends Error {
  /** A stable machine-readable name of the condition. */
  readonly code: string;
  /** True when the same request may succeed later, possibly on another node. */
  readonly retriable: boolean;

  constructor(message: string, options: RaftErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retriable = options.retriable;
  }
}

/**
 * The request needs the leader and this node is not it.
 *
 * @example
 * ```ts
 * import { NotLeaderError } from "./errors.ts";
 * const e = new NotLeaderError("controller-1", "controller-2");
 * if (e.leaderId !== "controller-2") throw new Error("unexpected");
 * ```
 */
export class NotLeaderError extends RaftError {
  /** The leader this node knows of, or null when it knows none. */
  readonly leaderId: NodeId | null;

  constructor(nodeId: NodeId, leaderId: NodeId | null, cause?: unknown) {
    super(
      `Cannot accept the request as node ${nodeId} is not the leader: current leader is ${
        leaderId ?? "unknown"
      }`,
      { code: "NOT_LEADER", retriable: true, cause },
    );
    this.leaderId = leaderId;
  }
}

/** The leader refused a proposal for now (transfer under way, too many uncommitted entries). */
export class ProposalDroppedError extends RaftError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: "PROPOSAL_DROPPED", retriable: true, cause });
  }
}

/** A membership change was refused: another is pending, or the change makes no sense. */
export class ConfChangeRejectedError extends RaftError {
  constructor(message: string, retriable: boolean, cause?: unknown) {
    super(message, { code: "CONF_CHANGE_REJECTED", retriable, cause });
  }
}

/** A leadership transfer was refused, e.g. because the target is not a voter. */
export class LeadershipTransferError extends RaftError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: "TRANSFER_REJECTED", retriable: false, cause });
  }
}

/** Durable Raft state failed a checksum or a structural check where no tear is possible. */
export class StorageCorruptError extends RaftError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: "STORAGE_CORRUPT", retriable: false, cause });
  }
}
