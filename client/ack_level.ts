/**
 * Producer acknowledgement levels and their encoding in the Produce request's int16 `acks`.
 *
 * | level            | wire `acks` | meaning                                               |
 * |------------------|-------------|-------------------------------------------------------|
 * | `"None"`         | `0`         | no response; the broker still appends                 |
 * | `"Leader"`       | `1`         | durable in the leader's WAL                           |
 * | `"All"`          | `-1`        | every in-sync replica has it (Kafka's `acks=all`)     |
 * | `"Majority"`     | `-2`        | RustMQ extension: a majority of the replicas          |
 * | `{ custom: n }`  | `n` (n ≥ 2) | RustMQ extension: `n` replicas, the leader included   |
 *
 * `{ custom: 1 }` is `"Leader"` and `{ custom: 0 }` is `"None"`. Kafka brokers reject the two
 * extensions with `INVALID_REQUIRED_ACKS`, and so does today's single-node RustMQ broker, which
 * accepts only -1, 0 and 1 until replication lands.
 *
 * @module
 */

/** How many replicas must have a batch before the producer's request succeeds. */
export type AckLevel = "None" | "Leader" | "Majority" | "All" | { custom: number };

/** The wire value of {@linkcode AckLevel} `"Majority"` (an extension: Kafka has none). */
export const ACKS_MAJORITY = -2;

/** Largest replica count `{ custom: n }` may ask for (int16 on the wire). */
export const ACKS_CUSTOM_MAX = 32767;

/**
 * The int16 `acks` value of a level.
 *
 * @example
 * ```ts
 * import { ackLevelToWire } from "./ack_level.ts";
 * const wire = ["None", "Leader", "All", "Majority", { custom: 3 }].map((l) => ackLevelToWire(l as never));
 * if (wire.join() !== "0,1,-1,-2,3") throw new Error(wire.join());
 * ```
 */
export function ackLevelToWire(level: AckLevel): number {
  switch (level) {
    case "None":
      return 0;
    case "Leader":
      return 1;
    case "All":
      return -1;
    case "Majority":
      return ACKS_MAJORITY;
  }
  const n = level.custom;
  if (!Number.isSafeInteger(n) || n < 0 || n > ACKS_CUSTOM_MAX) {
    throw new RangeError(
      `Cannot encode the ack level as custom must be an integer in 0..${ACKS_CUSTOM_MAX}: current value is ${n}`,
    );
  }
  return n;
}

/**
 * Parses a command-line acks value: `0`, `1`, `-1`, `all`, `majority`, `none`, `leader`, or a
 * replica count `N`.
 *
 * @example
 * ```ts
 * import { parseAckLevel } from "./ack_level.ts";
 * if (parseAckLevel("all") !== "All" || parseAckLevel("1") !== "Leader") throw new Error();
 * ```
 */
export function parseAckLevel(text: string): AckLevel {
  const lower = text.trim().toLowerCase();
  if (lower === "0" || lower === "none") return "None";
  if (lower === "1" || lower === "leader") return "Leader";
  if (lower === "-1" || lower === "all") return "All";
  if (lower === "majority") return "Majority";
  const n = Number(lower);
  if (Number.isSafeInteger(n) && n >= 2 && n <= ACKS_CUSTOM_MAX) return { custom: n };
  throw new RangeError(
    `Cannot parse acks as it must be 0, 1, -1, all, majority or a replica count: current value is ${text}`,
  );
}
