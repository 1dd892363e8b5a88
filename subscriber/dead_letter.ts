/**
 * The dead-letter actions (`DEAD_LETTER_ACTION`): where a record goes when it cannot become a
 * row (not JSON) or BigQuery refuses its row, or its batch failed past `MAX_RETRIES`.
 *
 * - `log`: one JSON log line with the reason and the record's coordinates;
 * - `drop`: counted in the metrics only;
 * - `dead_letter_queue`: produced to `DEAD_LETTER_TOPIC` with the original key, value and
 *   headers, plus `rustmq.dlq.*` headers naming the error and the source position;
 * - `file`: one JSON line per record appended to `DEAD_LETTER_FILE`.
 *
 * @module
 */

import type { ConsumerRecord } from "../client/mod.ts";
import type { MessageHeaders, ProducerMessage } from "../client/mod.ts";
import type { Logger } from "../ops/logger.ts";
import type { DeadLetterAction } from "./subscriber_config.ts";

/** Where refused records go. */
export interface DeadLetter {
  /** Resolves once the record is durably dead-lettered (so its offset may be committed). */
  send(record: ConsumerRecord, reason: string): Promise<void>;
}

/** What a `dead_letter_queue` action needs from a producer. */
export interface DeadLetterProducer {
  send(message: ProducerMessage): Promise<unknown>;
}

/** Settings of {@linkcode createDeadLetter}. */
export interface DeadLetterOptions {
  readonly action: DeadLetterAction;
  readonly topic: string;
  readonly file: string;
  readonly logger: Logger;
  readonly producer?: DeadLetterProducer;
}

/** The headers added to a dead-letter-queue record. */
export function deadLetterHeaders(record: ConsumerRecord, reason: string): MessageHeaders {
  return [
    ...record.headers,
    { key: "rustmq.dlq.reason", value: new TextEncoder().encode(reason) },
    { key: "rustmq.dlq.topic", value: new TextEncoder().encode(record.topic) },
    { key: "rustmq.dlq.partition", value: new TextEncoder().encode(String(record.partition)) },
    { key: "rustmq.dlq.offset", value: new TextEncoder().encode(String(record.offset)) },
  ];
}

/** A JSON-serializable description of a record, for logs and the dead-letter file. */
export function describeRecord(record: ConsumerRecord, reason: string): Record<string, unknown> {
  return {
    reason,
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
    key_base64: record.key === null ? null : _b64(record.key),
    value_base64: record.value === null ? null : _b64(record.value),
    headers: record.headers.map((h) => ({
      key: h.key,
      value_base64: h.value === null ? null : _b64(h.value),
    })),
  };
}

function _b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Builds the dead-letter action the configuration names. */
export function createDeadLetter(o: DeadLetterOptions): DeadLetter {
  switch (o.action) {
    case "drop":
      return { send: () => Promise.resolve() };
    case "log":
      return {
        send(record, reason) {
          const { key_base64: _k, value_base64: _v, headers: _h, ...where } = describeRecord(
            record,
            reason,
          );
          o.logger.warn("dead-lettered a record", where);
          return Promise.resolve();
        },
      };
    case "file":
      return {
        async send(record, reason) {
          await Deno.writeTextFile(o.file, JSON.stringify(describeRecord(record, reason)) + "\n", {
            append: true,
          });
        },
      };
    case "dead_letter_queue": {
      const producer = o.producer;
      if (producer === undefined) throw new TypeError("dead_letter_queue needs a producer");
      return {
        async send(record, reason) {
          await producer.send({
            topic: o.topic,
            key: record.key,
            value: record.value,
            headers: deadLetterHeaders(record, reason),
          });
        },
      };
    }
  }
}
