/**
 * Typed errors of the controller's metadata plane, and the one table that maps each error code to
 * an HTTP status for the admin REST API.
 *
 * State-machine outcomes (a topic that exists, a stale ISR update) are decided identically on every
 * controller, so they travel as `{ code, message }` and become a {@linkcode MetadataError} again
 * wherever they surface: REST, gRPC, or the broker-side client.
 *
 * @module
 */

/** Options of a {@linkcode MetadataError}. */
export interface MetadataErrorOptions {
  retriable?: boolean;
  cause?: unknown;
}

/** An error as it travels between controllers, brokers and REST clients. */
export interface WireError {
  code: string;
  message: string;
  /** Set on NOT_LEADER: the leader the sender knows of. */
  leaderId?: string | null;
}

/** Error codes that a caller may retry, possibly on another controller. */
const _RETRIABLE = new Set([
  "NOT_LEADER",
  "NO_LEADER",
  "TIMEOUT",
  "PROPOSAL_DROPPED",
  "UNAVAILABLE",
  "UNKNOWN_TOPIC_OR_PARTITION",
]);

/**
 * Error code to HTTP status, the single mapping the REST API and the admin CLI rely on.
 * Codes missing here are server faults (500).
 */
export const HTTP_STATUS_OF_CODE: Readonly<Record<string, number>> = {
  BAD_REQUEST: 400,
  INVALID_TOPIC_EXCEPTION: 400,
  INVALID_CONFIG: 400,
  INVALID_PARTITIONS: 400,
  INVALID_REPLICATION_FACTOR: 400,
  INVALID_REPLICA_ASSIGNMENT: 400,
  INVALID_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  UNKNOWN_TOPIC_OR_PARTITION: 404,
  BROKER_NOT_REGISTERED: 404,
  TOPIC_ALREADY_EXISTS: 409,
  STALE_BROKER_EPOCH: 409,
  FENCED_LEADER_EPOCH: 409,
  INVALID_UPDATE_VERSION: 409,
  NOT_PARTITION_LEADER: 409,
  MANIFEST_CONFLICT: 409,
  DECOMMISSION_IN_PROGRESS: 409,
  MODULE_IN_USE: 409,
  REBALANCE_IN_PROGRESS: 409,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  NOT_LEADER: 503,
  NO_LEADER: 503,
  UNAVAILABLE: 503,
  PROPOSAL_DROPPED: 503,
  TIMEOUT: 504,
};

/**
 * An expected failure of a metadata operation, with a stable `code`.
 *
 * @example
 * ```ts
 * import { MetadataError } from "./errors.ts";
 * const e = new MetadataError("TOPIC_ALREADY_EXISTS", "Topic 'a' already exists");
 * if (e.httpStatus !== 409 || e.retriable) throw new Error("unexpected mapping");
 * ```
 */
export class MetadataError extends Error {
  /** A stable machine-readable name of the condition. */
  readonly code: string;
  /** True when the same request may succeed later. */
  readonly retriable: boolean;

  constructor(code: string, message: string, options: MetadataErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MetadataError";
    this.code = code;
    this.retriable = options.retriable ?? _RETRIABLE.has(code);
  }

  /** The HTTP status the REST API answers with. */
  get httpStatus(): number {
    return HTTP_STATUS_OF_CODE[this.code] ?? 500;
  }

  /** The error as it travels. */
  toWire(): WireError {
    return { code: this.code, message: this.message };
  }
}

/**
 * Turns any thrown value into a wire error. Errors with a string `code` keep it (so Raft's
 * `NotLeaderError` and the topic validators map cleanly); anything else is an internal error.
 */
export function toWireError(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const leaderId = (err as { leaderId?: unknown }).leaderId;
    const out: WireError = {
      code: typeof code === "string" ? code : "INTERNAL",
      message: err.message,
    };
    if (typeof leaderId === "string" || leaderId === null) out.leaderId = leaderId;
    return out;
  }
  return { code: "INTERNAL", message: String(err) };
}

/** Rebuilds a typed error from its wire form. */
export function fromWireError(wire: WireError): MetadataError {
  return new MetadataError(wire.code, wire.message);
}
