/**
 * The embedded "consumer" protocol of Kafka groups: the bytes a member puts in JoinGroup's
 * protocol metadata (its subscription) and the bytes the leader hands each member in SyncGroup
 * (its assignment). The layout is the Java client's `ConsumerProtocol`, so RustMQ's SDK,
 * kafkajs, librdkafka and the Java client understand one another inside one group.
 *
 * Both structures are non-flexible and only ever grow at the end, so a reader that meets a
 * newer version reads the fields it knows and ignores the rest (as the Java client does).
 *
 * @module
 */

import { Reader, Writer } from "../protocol/kafka/wire.ts";

/** The newest subscription and assignment version this SDK writes. */
export const CONSUMER_PROTOCOL_VERSION_MAX = 3;

/** Partitions of one topic. */
export interface TopicPartitions {
  /** Topic. */
  topic: string;
  /** Partition indexes. */
  partitions: number[];
}

/** A member's subscription (ConsumerProtocolSubscription, versions 0-3). */
export interface Subscription {
  /** Version found on (or to put on) the wire. */
  version: number;
  /** Subscribed topics. */
  topics: string[];
  /** Assignor-specific bytes, or null. */
  userData: Uint8Array | null;
  /** Partitions the member owns now (v1+; cooperative rebalancing relies on it). */
  ownedPartitions: TopicPartitions[];
  /** Generation the owned partitions belong to, or -1 (v2+). */
  generationId: number;
  /** Rack of the member, or null (v3+). */
  rackId: string | null;
}

/** A member's assignment (ConsumerProtocolAssignment, versions 0-3 share one layout). */
export interface Assignment {
  /** Version found on (or to put on) the wire. */
  version: number;
  /** Assigned partitions by topic. */
  assignedPartitions: TopicPartitions[];
  /** Assignor-specific bytes, or null. */
  userData: Uint8Array | null;
}

function _checkVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 0 || version > CONSUMER_PROTOCOL_VERSION_MAX) {
    throw new RangeError(
      `Cannot encode the consumer protocol as version must be 0-${CONSUMER_PROTOCOL_VERSION_MAX}: current value is ${version}`,
    );
  }
}

function _writeTopicPartitions(w: Writer, list: readonly TopicPartitions[]): void {
  w.arrayLength(list.length, false);
  for (const tp of list) {
    w.string(tp.topic, false);
    w.arrayLength(tp.partitions.length, false);
    for (const p of tp.partitions) w.int32(p);
  }
}

function _readTopicPartitions(r: Reader): TopicPartitions[] {
  const n = r.arrayLength(false, 6);
  const out: TopicPartitions[] = [];
  for (let i = 0; i < n; i++) {
    const topic = r.string(false);
    const count = r.arrayLength(false, 4);
    const partitions: number[] = [];
    for (let j = 0; j < count; j++) partitions.push(r.int32());
    out.push({ topic, partitions });
  }
  return out;
}

/**
 * Encodes a subscription.
 *
 * ```text
 * Subscription => Version Topics UserData [OwnedPartitions] [GenerationId] [RackId]
 *   Version => INT16
 *   Topics => ARRAY(STRING)
 *   UserData => NULLABLE_BYTES
 *   OwnedPartitions (v1+) => ARRAY(Topic => STRING, Partitions => ARRAY(INT32))
 *   GenerationId (v2+) => INT32
 *   RackId (v3+) => NULLABLE_STRING
 * ```
 *
 * @example
 * ```ts
 * import { decodeSubscription, encodeSubscription } from "./consumer_protocol.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodeSubscription({
 *   version: 0, topics: ["a"], userData: null, ownedPartitions: [], generationId: -1, rackId: null,
 * });
 * assert.deepEqual([...bytes], [0, 0, 0, 0, 0, 1, 0, 1, 97, 255, 255, 255, 255]);
 * assert.deepEqual(decodeSubscription(bytes).topics, ["a"]);
 * ```
 */
export function encodeSubscription(s: Subscription): Uint8Array {
  _checkVersion(s.version);
  const w = new Writer();
  w.int16(s.version);
  w.arrayLength(s.topics.length, false);
  for (const t of s.topics) w.string(t, false);
  w.nullableBytes(s.userData, false);
  if (s.version >= 1) _writeTopicPartitions(w, s.ownedPartitions);
  if (s.version >= 2) w.int32(s.generationId);
  if (s.version >= 3) w.nullableString(s.rackId, false);
  return w.finish();
}

/**
 * Decodes a subscription of any version; fields of versions above 3 are ignored. Throws
 * `MalformedFrameError` on truncated bytes.
 */
export function decodeSubscription(bytes: Uint8Array): Subscription {
  const r = new Reader(bytes);
  const version = r.int16();
  const n = r.arrayLength(false, 2);
  const topics: string[] = [];
  for (let i = 0; i < n; i++) topics.push(r.string(false));
  // kafkajs omits nothing, but some old clients stop right after the topics.
  const userData = r.remaining > 0 ? r.nullableBytes(false) : null;
  const out: Subscription = {
    version,
    topics,
    userData: userData === null ? null : userData.slice(),
    ownedPartitions: [],
    generationId: -1,
    rackId: null,
  };
  if (version >= 1 && r.remaining > 0) out.ownedPartitions = _readTopicPartitions(r);
  if (version >= 2 && r.remaining >= 4) out.generationId = r.int32();
  if (version >= 3 && r.remaining >= 2) out.rackId = r.nullableString(false);
  return out;
}

/**
 * Encodes an assignment.
 *
 * ```text
 * Assignment => Version AssignedPartitions UserData
 *   Version => INT16
 *   AssignedPartitions => ARRAY(Topic => STRING, Partitions => ARRAY(INT32))
 *   UserData => NULLABLE_BYTES
 * ```
 *
 * @example
 * ```ts
 * import { decodeAssignment, encodeAssignment } from "./consumer_protocol.ts";
 * import assert from "node:assert/strict";
 * const bytes = encodeAssignment({
 *   version: 0, assignedPartitions: [{ topic: "a", partitions: [2] }], userData: null,
 * });
 * assert.deepEqual(decodeAssignment(bytes).assignedPartitions, [{ topic: "a", partitions: [2] }]);
 * ```
 */
export function encodeAssignment(a: Assignment): Uint8Array {
  _checkVersion(a.version);
  const w = new Writer();
  w.int16(a.version);
  _writeTopicPartitions(w, a.assignedPartitions);
  w.nullableBytes(a.userData, false);
  return w.finish();
}

/**
 * Decodes an assignment of any version. Empty bytes (a member the leader gave nothing, or a
 * group between generations) decode as an empty assignment.
 */
export function decodeAssignment(bytes: Uint8Array): Assignment {
  if (bytes.length === 0) return { version: 0, assignedPartitions: [], userData: null };
  const r = new Reader(bytes);
  const version = r.int16();
  const assignedPartitions = _readTopicPartitions(r);
  const userData = r.remaining > 0 ? r.nullableBytes(false) : null;
  return {
    version,
    assignedPartitions,
    userData: userData === null ? null : userData.slice(),
  };
}
