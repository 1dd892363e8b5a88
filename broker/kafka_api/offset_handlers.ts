/**
 * Routes for committed offsets: OffsetCommit (8) and OffsetFetch (9). Commits are authorised
 * by the group coordinator (generation and member fencing) and made durable in
 * `__consumer_offsets` before they are acknowledged; fetches read the in-memory cache.
 *
 * OffsetFetch v8 batches several groups per request; v0-7 carry one group, with the group-level
 * error at the top (v2+) or in every partition (v0-1).
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createOffsetCommitResponse,
  createOffsetFetchResponse,
  decodeOffsetCommitRequest,
  decodeOffsetFetchRequest,
  encodeOffsetCommitResponse,
  encodeOffsetFetchResponse,
  type OffsetCommitRequest,
  type OffsetCommitResponse,
  type OffsetCommitResponseTopic,
  type OffsetFetchRequest,
  type OffsetFetchResponse,
  type OffsetFetchResponsePartition,
} from "../../protocol/kafka/messages/mod.ts";
import type { ApiRoute } from "./request_router.ts";
import type { RequestContext } from "./broker_context.ts";
import type { OffsetCommitEntry } from "../group/offset_store.ts";
import { groupServiceFor } from "./group_handlers.ts";

// ---------------------------------------------------------------------- OffsetCommit

/** Per-partition errors for partitions of unknown topics; entries for the rest. */
function _splitKnown(req: OffsetCommitRequest, ctx: RequestContext) {
  const errors = new Map<string, number>();
  const entries: OffsetCommitEntry[] = [];
  for (const t of req.topics) {
    const meta = ctx.broker.metadata.topic(t.name);
    for (const p of t.partitions) {
      if (
        meta === undefined || p.partitionIndex < 0 || p.partitionIndex >= meta.partitions.length
      ) {
        errors.set(`${t.name}\u0000${p.partitionIndex}`, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        continue;
      }
      entries.push({
        topic: t.name,
        partition: p.partitionIndex,
        offset: p.committedOffset,
        leaderEpoch: p.committedLeaderEpoch,
        metadata: p.committedMetadata,
      });
    }
  }
  return { errors, entries };
}

function _commitResponse(
  req: OffsetCommitRequest,
  errorOf: (topic: string, partition: number) => number,
): OffsetCommitResponse {
  const res = createOffsetCommitResponse();
  res.topics = req.topics.map((t): OffsetCommitResponseTopic => ({
    name: t.name,
    partitions: t.partitions.map((p) => ({
      partitionIndex: p.partitionIndex,
      errorCode: errorOf(t.name, p.partitionIndex),
    })),
  }));
  return res;
}

async function _offsetCommit(
  req: OffsetCommitRequest,
  ctx: RequestContext,
): Promise<OffsetCommitResponse> {
  const svc = groupServiceFor(ctx, req.groupId);
  if (typeof svc === "number") return _commitResponse(req, () => svc);
  const { errors, entries } = _splitKnown(req, ctx);
  const who = {
    groupId: req.groupId,
    generationId: req.generationIdOrMemberEpoch,
    memberId: req.memberId,
    groupInstanceId: req.groupInstanceId,
  };
  // A transaction coordinator on another broker applies a committed transaction's offsets:
  // the group member was checked when its TxnOffsetCommit arrived, and the group has moved on
  // since, so the commit is taken as is (only on the broker-to-broker listener).
  const applied = ctx.connection.interBroker === true && who.generationId < 0 &&
    who.memberId === "" && who.groupInstanceId === null;
  const outcome = applied
    ? await svc.offsets.commit(req.groupId, entries, ctx.broker.nowMs())
    : await svc.commitOffsets(who, entries);
  if (typeof outcome === "number") return _commitResponse(req, () => outcome);
  for (const o of outcome) errors.set(`${o.topic}\u0000${o.partition}`, o.errorCode);
  return _commitResponse(req, (t, p) => errors.get(`${t}\u0000${p}`) ?? ErrorCode.NONE);
}

/** The OffsetCommit route (v9 is KIP-848's consumer protocol, which RustMQ does not serve). */
export const offsetCommitRoute: ApiRoute<OffsetCommitRequest, OffsetCommitResponse> = {
  apiKey: ApiKey.OffsetCommit,
  name: "OffsetCommit",
  minVersion: 0,
  maxVersion: 8,
  advertised: true,
  decode: decodeOffsetCommitRequest,
  encode: encodeOffsetCommitResponse,
  handle: _offsetCommit,
};

// ----------------------------------------------------------------------- OffsetFetch

interface _TopicsWanted {
  name: string;
  partitionIndexes: number[];
}

interface _GroupOffsets {
  errorCode: number;
  topics: { name: string; partitions: OffsetFetchResponsePartition[] }[];
}

/** One group's answer; `v` decides whether the leader epoch may be set (v5+). */
function _fetchGroup(
  ctx: RequestContext,
  groupId: string,
  topics: readonly _TopicsWanted[] | null,
  v: number,
  requireStable = false,
): _GroupOffsets {
  const svc = groupServiceFor(ctx, groupId);
  if (typeof svc === "number") {
    const partitions = (t: _TopicsWanted) =>
      t.partitionIndexes.map((p) => _fetched(p, -1n, -1, "", svc));
    return {
      errorCode: svc,
      topics: (topics ?? []).map((t) => ({ name: t.name, partitions: partitions(t) })),
    };
  }
  const wanted = topics?.map((t) => ({ name: t.name, partitions: t.partitionIndexes })) ?? null;
  const byTopic = new Map<string, OffsetFetchResponsePartition[]>();
  for (const o of svc.offsets.fetch(groupId, wanted)) {
    let list = byTopic.get(o.topic);
    if (list === undefined) byTopic.set(o.topic, list = []);
    const epoch = v >= 5 ? o.leaderEpoch : -1;
    // KIP-447: a consumer that asks for stable offsets waits (UNSTABLE_OFFSET_COMMIT is
    // retriable) while a transaction holds an offset for the partition that may yet commit.
    if (requireStable && ctx.broker.txns?.hasPendingOffset(groupId, o.topic, o.partition)) {
      list.push(_fetched(o.partition, -1n, -1, "", ErrorCode.UNSTABLE_OFFSET_COMMIT));
      continue;
    }
    list.push(_fetched(o.partition, o.offset, epoch, o.metadata, ErrorCode.NONE));
  }
  const names = topics?.map((t) => t.name) ?? [...byTopic.keys()];
  return {
    errorCode: ErrorCode.NONE,
    topics: names.map((name) => ({ name, partitions: byTopic.get(name) ?? [] })),
  };
}

function _fetched(
  partitionIndex: number,
  committedOffset: bigint,
  committedLeaderEpoch: number,
  metadata: string,
  errorCode: number,
): OffsetFetchResponsePartition {
  return { partitionIndex, committedOffset, committedLeaderEpoch, metadata, errorCode };
}

function _offsetFetch(req: OffsetFetchRequest, ctx: RequestContext): Promise<OffsetFetchResponse> {
  const v = ctx.header.apiVersion;
  const res = createOffsetFetchResponse();
  if (v >= 8) {
    res.groups = req.groups.map((g) => ({
      groupId: g.groupId,
      ..._fetchGroup(ctx, g.groupId, g.topics, v, req.requireStable),
    }));
    return Promise.resolve(res);
  }
  // v0-1 cannot ask for "all topics" (a null list appeared in v2).
  const got = _fetchGroup(
    ctx,
    req.groupId,
    v >= 2 ? req.topics : req.topics ?? [],
    v,
    req.requireStable,
  );
  res.topics = got.topics;
  if (v >= 2) {
    res.errorCode = got.errorCode;
  } else if (got.errorCode !== ErrorCode.NONE) {
    // v0-1 have no group-level error: each partition carries it.
    for (const t of res.topics) for (const p of t.partitions) p.errorCode = got.errorCode;
  }
  return Promise.resolve(res);
}

/** The OffsetFetch route (v8+ carries a batch of groups). */
export const offsetFetchRoute: ApiRoute<OffsetFetchRequest, OffsetFetchResponse> = {
  apiKey: ApiKey.OffsetFetch,
  name: "OffsetFetch",
  minVersion: 0,
  maxVersion: 8,
  advertised: true,
  decode: decodeOffsetFetchRequest,
  encode: encodeOffsetFetchResponse,
  handle: _offsetFetch,
};
