/**
 * The error response for a request whose version the broker does not serve, as Kafka's
 * `AbstractRequest.getErrorResponse` builds it: the request is decoded with the generated codec
 * (whose range is wider than what is served), and the response names every topic, partition or
 * key of the request with UNSUPPORTED_VERSION (35), so the client learns why instead of seeing a
 * closed connection.
 *
 * An API whose response has neither a top-level error code nor a per-entry shape this module
 * knows gets no response (null): the router then closes the connection, as Kafka does for a
 * request it cannot parse.
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { apiDescriptor } from "../../protocol/kafka/messages/mod.ts";
import type {
  FetchRequest,
  FetchResponse,
  FindCoordinatorRequest,
  FindCoordinatorResponse,
  ListOffsetsRequest,
  ListOffsetsResponse,
  OffsetCommitRequest,
  OffsetCommitResponse,
  ProduceRequest,
  ProduceResponse,
} from "../../protocol/kafka/messages/mod.ts";
import type { Reader } from "../../protocol/kafka/wire.ts";

const _CODE = ErrorCode.UNSUPPORTED_VERSION;

function _produce(req: ProduceRequest, res: ProduceResponse): void {
  res.responses = req.topicData.map((t) => ({
    name: t.name,
    partitionResponses: t.partitionData.map((p) => ({
      index: p.index,
      errorCode: _CODE,
      baseOffset: -1n,
      logAppendTimeMs: -1n,
      logStartOffset: -1n,
      recordErrors: [],
      errorMessage: null,
      currentLeader: { leaderId: -1, leaderEpoch: -1 },
    })),
  }));
}

function _fetch(req: FetchRequest, res: FetchResponse, version: number): void {
  if (version >= 7) res.errorCode = _CODE;
  res.responses = req.topics.map((t) => ({
    topic: t.topic,
    topicId: t.topicId,
    partitions: t.partitions.map((p) => ({
      partitionIndex: p.partition,
      errorCode: _CODE,
      highWatermark: -1n,
      lastStableOffset: -1n,
      logStartOffset: -1n,
      divergingEpoch: { epoch: -1, endOffset: -1n },
      currentLeader: { leaderId: -1, leaderEpoch: -1 },
      snapshotId: { endOffset: -1n, epoch: -1 },
      abortedTransactions: null,
      preferredReadReplica: -1,
      records: null,
    })),
  }));
}

function _listOffsets(req: ListOffsetsRequest, res: ListOffsetsResponse): void {
  res.topics = req.topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({
      partitionIndex: p.partitionIndex,
      errorCode: _CODE,
      oldStyleOffsets: [],
      timestamp: -1n,
      offset: -1n,
      leaderEpoch: -1,
    })),
  }));
}

function _offsetCommit(req: OffsetCommitRequest, res: OffsetCommitResponse): void {
  res.topics = req.topics.map((t) => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: _CODE })),
  }));
}

function _findCoordinator(
  req: FindCoordinatorRequest,
  res: FindCoordinatorResponse,
  version: number,
): void {
  res.errorCode = _CODE;
  // v4+ batch the keys, and each key carries its own error.
  if (version >= 4) {
    res.coordinators = req.coordinatorKeys.map((key) => ({
      key,
      nodeId: -1,
      host: "",
      port: -1,
      errorCode: _CODE,
      errorMessage: null,
    }));
  }
}

// Builders for APIs whose errors live per entry; the rest use a top-level errorCode.
// deno-lint-ignore no-explicit-any
type _Mirror = (req: any, res: any, version: number) => void;
const _MIRRORS: ReadonlyMap<number, _Mirror> = new Map<number, _Mirror>([
  [ApiKey.Produce, _produce],
  [ApiKey.Fetch, _fetch],
  [ApiKey.ListOffsets, _listOffsets],
  [ApiKey.OffsetCommit, _offsetCommit],
  [ApiKey.FindCoordinator, _findCoordinator],
]);

/**
 * Decodes the body of a request at `version` and returns the encoder and body of its
 * UNSUPPORTED_VERSION response, or null when the version lies outside the codec's range or the
 * API's response has nowhere to carry the error.
 *
 * @example
 * ```ts
 * import { unsupportedVersionResponse } from "./unsupported_version.ts";
 * import { Reader } from "../../protocol/kafka/wire.ts";
 * import assert from "node:assert/strict";
 * // Heartbeat v0 body: group "g", generation 1, member "m".
 * const body = new Uint8Array([0, 1, 103, 0, 0, 0, 1, 0, 1, 109]);
 * const out = unsupportedVersionResponse(12, 0, new Reader(body));
 * assert.equal((out?.body as { errorCode: number }).errorCode, 35);
 * ```
 */
export function unsupportedVersionResponse(
  apiKey: number,
  version: number,
  body: Reader,
): { body: unknown; encode: (w: never, m: never, v: number) => void } | null {
  const api = apiDescriptor(apiKey);
  if (api === undefined || version < api.minVersion || version > api.maxVersion) return null;
  const req = api.request.decode(body, version);
  const res = api.response.create() as Record<string, unknown>;
  const mirror = _MIRRORS.get(apiKey);
  if (mirror !== undefined) {
    mirror(req, res, version);
  } else {
    const field = api.response.fields.find((f) => f.name === "errorCode");
    const range = field?.versions;
    if (range == null || version < range[0] || version > range[1]) return null;
    res.errorCode = _CODE;
  }
  return { body: res, encode: api.response.encode as (w: never, m: never, v: number) => void };
}
