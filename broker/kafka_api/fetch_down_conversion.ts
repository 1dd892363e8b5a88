/**
 * Fetch v0-3: consumers from before Kafka 0.11 read message sets (magic 0 for v0-1, magic 1 for
 * v2-3), not RecordBatch v2. The request is served like any other fetch, and each partition's
 * batches are then down-converted (protocol/record/legacy_message_set.ts), as Kafka 3 does.
 *
 * A topic with `message.downconversion.enable=false` answers these versions with
 * UNSUPPORTED_VERSION for its partitions instead, as Kafka does: down-conversion decodes every
 * record, which the topic's owner may not want the broker to spend.
 *
 * @module
 */

import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createFetchResponsePartitionData,
  type FetchRequest,
  type FetchResponse,
} from "../../protocol/kafka/messages/mod.ts";
import { batchesToMessageSet } from "../../protocol/record/legacy_message_set.ts";
import { recordsBytes } from "../../protocol/kafka/wire.ts";
import type { RequestContext } from "./broker_context.ts";

/** The first Fetch version whose records are RecordBatch v2. */
export const FETCH_FIRST_BATCH_VERSION = 4;

/**
 * Serves a Fetch below v4 through `serve` (the v4+ handler) and down-converts its records.
 * Partitions of topics that refuse down-conversion are not read at all.
 */
export async function downConvertFetch(
  serve: (req: FetchRequest, ctx: RequestContext) => Promise<FetchResponse>,
  req: FetchRequest,
  ctx: RequestContext,
): Promise<FetchResponse> {
  const refused = (topic: string) =>
    ctx.broker.metadata.topic(topic)?.config["message.downconversion.enable"] === false;
  const served = { ...req, topics: req.topics.filter((t) => !refused(t.topic)) };
  const res = served.topics.length > 0
    ? await serve(served, ctx)
    : { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: [], nodeEndpoints: [] };
  const magic = ctx.header.apiVersion <= 1 ? 0 : 1;
  const wanted = new Map(
    req.topics.flatMap((t) => t.partitions.map((p) => [`${t.topic}/${p.partition}`, p])),
  );
  for (const t of res.responses) {
    for (const p of t.partitions) {
      const asked = wanted.get(`${t.topic}/${p.partitionIndex}`);
      if (p.records === null || p.records.length === 0 || asked === undefined) continue;
      p.records = await batchesToMessageSet(recordsBytes(p.records), magic, {
        fromOffset: Number(asked.fetchOffset),
        maxBytes: asked.partitionMaxBytes,
      });
    }
  }
  // Kafka answers the refused topics in request order with the rest; order does not matter to
  // clients, which look partitions up by name.
  for (const t of req.topics.filter((x) => refused(x.topic))) {
    res.responses.push({
      topic: t.topic,
      topicId: t.topicId,
      partitions: t.partitions.map((p) => ({
        ...createFetchResponsePartitionData(),
        partitionIndex: p.partition,
        errorCode: ErrorCode.UNSUPPORTED_VERSION,
        highWatermark: -1n,
        abortedTransactions: null,
      })),
    });
  }
  return res;
}
