/**
 * What a producer is given and what it gives back, and the conversion of a message into the
 * record the batch codec takes.
 *
 * @module
 */

import type { RecordHeader, RecordInput } from "../protocol/record/record_batch.ts";

/** Bytes, or a string sent as UTF-8. */
export type Payload = Uint8Array | string;

/** Record headers: a plain object (one value per key) or an ordered list. */
export type MessageHeaders = Readonly<Record<string, Payload>> | readonly RecordHeader[];

/** One message to produce. */
export interface ProducerMessage {
  /** Topic to write to. */
  topic: string;
  /** Value; null is a tombstone. */
  value: Payload | null;
  /** Key; records with equal keys go to the same partition. @default {null} */
  key?: Payload | null;
  /** Headers, appended after the producer's `defaultHeaders`. @default {{}} */
  headers?: MessageHeaders;
  /** Partition; overrides the partitioner. */
  partition?: number;
  /** CreateTime in milliseconds. @default {the producer clock's now} */
  timestamp?: number;
}

/** Where a produced record landed. */
export interface RecordMetadata {
  /** Topic. */
  topic: string;
  /** Partition. */
  partition: number;
  /** Offset, or -1 with `ackLevel: "None"` (the broker does not answer). */
  offset: number;
  /** CreateTime of the record. */
  timestamp: number;
}

const _encoder = new TextEncoder();

/** The bytes of a payload. */
export function payloadBytes(payload: Payload | null | undefined): Uint8Array | null {
  if (payload === null || payload === undefined) return null;
  return typeof payload === "string" ? _encoder.encode(payload) : payload;
}

/** Headers as an ordered list. */
export function headerList(headers: MessageHeaders | undefined): RecordHeader[] {
  if (headers === undefined) return [];
  if (Array.isArray(headers)) return [...(headers as readonly RecordHeader[])];
  return Object.entries(headers as Record<string, Payload>).map(([key, value]) => ({
    key,
    value: payloadBytes(value),
  }));
}

/** Bytes a record adds to a batch, give or take its varint lengths. */
export function recordSizeBytes(record: RecordInput): number {
  // 21 bytes bounds the record's own varints (length, attributes, deltas, field lengths).
  let size = 21 + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const h of record.headers ?? []) size += 10 + h.key.length * 3 + (h.value?.length ?? 0);
  return size;
}
