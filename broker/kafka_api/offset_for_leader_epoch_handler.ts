/**
 * The OffsetForLeaderEpoch route (API key 23). The answer itself, with Kafka's semantics, is
 * `answerOffsetForLeaderEpoch` in `broker/replication/leader_epoch_lookup.ts`.
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import {
  decodeOffsetForLeaderEpochRequest,
  encodeOffsetForLeaderEpochResponse,
  type OffsetForLeaderEpochRequest,
  type OffsetForLeaderEpochResponse,
} from "../../protocol/kafka/messages/mod.ts";
import type { ApiRoute } from "./request_router.ts";
import {
  answerOffsetForLeaderEpoch,
  type LeaderEpochLookup,
} from "../replication/leader_epoch_lookup.ts";

/**
 * The OffsetForLeaderEpoch route, answering from `lookup`. Versions 0-4 (what the codecs
 * cover; Kafka clients use 3-4). Add it to the broker's routes (and the replication listener's).
 */
export function offsetForLeaderEpochRoute(
  lookup: LeaderEpochLookup,
): ApiRoute<OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse> {
  return {
    apiKey: ApiKey.OffsetForLeaderEpoch,
    name: "OffsetForLeaderEpoch",
    minVersion: 0,
    maxVersion: 4,
    advertised: true,
    decode: decodeOffsetForLeaderEpochRequest,
    encode: encodeOffsetForLeaderEpochResponse,
    handle: (req) => {
      const res: OffsetForLeaderEpochResponse = {
        throttleTimeMs: 0,
        topics: req.topics.map((t) => ({
          topic: t.topic,
          partitions: t.partitions.map((p) =>
            answerOffsetForLeaderEpoch(lookup(t.topic, p.partition), p)
          ),
        })),
      };
      return Promise.resolve(res);
    },
  };
}
