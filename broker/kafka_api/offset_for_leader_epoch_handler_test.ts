import assert from "node:assert/strict";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { decodeResponseHeader, encodeRequestHeader } from "../../protocol/kafka/header.ts";
import { Reader, Writer } from "../../protocol/kafka/wire.ts";
import {
  decodeOffsetForLeaderEpochResponse,
  encodeOffsetForLeaderEpochRequest,
  type OffsetForLeaderEpochRequest,
} from "../../protocol/kafka/messages/mod.ts";
import { anyRoute, createRequestRouter } from "./request_router.ts";
import type { BrokerContext } from "./broker_context.ts";
import type { ConnectionContext } from "../net/frame_handler.ts";
import { LeaderEpochCache } from "../replication/leader_epoch_cache.ts";
import { offsetForLeaderEpochRoute } from "./offset_for_leader_epoch_handler.ts";
import { joinPayload } from "../../protocol/transport/frame_decoder.ts";
import {
  answerOffsetForLeaderEpoch,
  type LeaderEpochLookupResult,
} from "../replication/leader_epoch_lookup.ts";

function led(): LeaderEpochLookupResult {
  const leaderEpochCache = new LeaderEpochCache();
  leaderEpochCache.assign(1, 0);
  leaderEpochCache.assign(4, 25);
  return { leaderEpochCache, logEndOffset: 60, currentLeaderEpoch: 4 };
}

Deno.test("answerOffsetForLeaderEpoch answers the end offset of the requested epoch", () => {
  const ask = (leaderEpoch: number, currentLeaderEpoch = 4) =>
    answerOffsetForLeaderEpoch(led(), { partition: 2, currentLeaderEpoch, leaderEpoch });
  assert.deepEqual(ask(4), { errorCode: 0, partition: 2, leaderEpoch: 4, endOffset: 60n });
  assert.deepEqual(ask(3), { errorCode: 0, partition: 2, leaderEpoch: 1, endOffset: 25n });
  assert.deepEqual(ask(0), { errorCode: 0, partition: 2, leaderEpoch: 0, endOffset: 0n });
  assert.deepEqual(ask(9), { errorCode: 0, partition: 2, leaderEpoch: -1, endOffset: -1n });
  assert.equal(ask(4, -1).errorCode, ErrorCode.NONE, "-1 skips the epoch check");
});

Deno.test("answerOffsetForLeaderEpoch fences stale askers and reports its own staleness", () => {
  const fenced = answerOffsetForLeaderEpoch(led(), {
    partition: 0,
    currentLeaderEpoch: 3,
    leaderEpoch: 1,
  });
  assert.deepEqual(fenced, {
    errorCode: ErrorCode.FENCED_LEADER_EPOCH,
    partition: 0,
    leaderEpoch: -1,
    endOffset: -1n,
  });
  const ahead = answerOffsetForLeaderEpoch(led(), {
    partition: 0,
    currentLeaderEpoch: 5,
    leaderEpoch: 1,
  });
  assert.equal(ahead.errorCode, ErrorCode.UNKNOWN_LEADER_EPOCH);
  const notLeader = answerOffsetForLeaderEpoch(undefined, {
    partition: 0,
    currentLeaderEpoch: 4,
    leaderEpoch: 1,
  });
  assert.equal(notLeader.errorCode, ErrorCode.NOT_LEADER_OR_FOLLOWER);
});

Deno.test("offsetForLeaderEpochRoute serves versions 0 to 4 through the router", async () => {
  const route = offsetForLeaderEpochRoute((topic, partition) =>
    topic === "t" && partition === 0 ? led() : undefined
  );
  const router = createRequestRouter([anyRoute(route)], {} as BrokerContext);
  const connection = {} as ConnectionContext;
  for (let v = 0; v <= 4; v++) {
    const req: OffsetForLeaderEpochRequest = {
      replicaId: 7,
      topics: [{
        topic: "t",
        partitions: [
          { partition: 0, currentLeaderEpoch: v >= 2 ? 4 : -1, leaderEpoch: 2 },
          { partition: 1, currentLeaderEpoch: -1, leaderEpoch: 2 },
        ],
      }],
    };
    const w = new Writer();
    encodeRequestHeader(w, {
      apiKey: ApiKey.OffsetForLeaderEpoch,
      apiVersion: v,
      correlationId: 11,
      clientId: "f",
    });
    encodeOffsetForLeaderEpochRequest(w, req, v);
    const payload = await router(w.finish(), connection);
    const r = new Reader(joinPayload(payload!));
    assert.equal(decodeResponseHeader(r, ApiKey.OffsetForLeaderEpoch, v).correlationId, 11);
    const res = decodeOffsetForLeaderEpochResponse(r, v);
    const [p0, p1] = res.topics[0]!.partitions;
    assert.equal(p0!.errorCode, 0, `v${v}`);
    assert.equal(p0!.endOffset, 25n, `v${v}`);
    // v0 has no leaderEpoch field in the response; it decodes as the default.
    assert.equal(p0!.leaderEpoch, v >= 1 ? 1 : -1, `v${v}`);
    assert.equal(p1!.errorCode, ErrorCode.NOT_LEADER_OR_FOLLOWER, `v${v}`);
  }
});
