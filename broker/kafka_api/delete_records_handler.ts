/**
 * DeleteRecords (API key 21): moves partitions' log start offsets up, as `kafka-delete-records`
 * and kafkajs `admin.deleteTopicRecords` ask. Each partition succeeds or fails on its own; the
 * answer carries the new low watermark.
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createDeleteRecordsResponse,
  decodeDeleteRecordsRequest,
  type DeleteRecordsRequest,
  type DeleteRecordsResponse,
  encodeDeleteRecordsResponse,
} from "../../protocol/kafka/messages/mod.ts";
import { kafkaErrorCode } from "../broker_errors.ts";
import type { ApiRoute } from "./request_router.ts";
import type { RequestContext } from "./broker_context.ts";

async function _deleteRecords(
  req: DeleteRecordsRequest,
  ctx: RequestContext,
): Promise<DeleteRecordsResponse> {
  const res = createDeleteRecordsResponse();
  for (const t of req.topics) {
    const partitions = [];
    for (const p of t.partitions) {
      const result = { partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: 0 };
      try {
        const start = await ctx.broker.partitions.deleteRecords(
          t.name,
          p.partitionIndex,
          Number(p.offset),
          req.timeoutMs,
        );
        result.lowWatermark = BigInt(start);
      } catch (err) {
        result.errorCode = kafkaErrorCode(err);
        if (result.errorCode === ErrorCode.UNKNOWN_SERVER_ERROR) {
          ctx.broker.logger.warn("DeleteRecords failed", {
            partition: `${t.name}/${p.partitionIndex}`,
            err: err as Error,
          });
        }
      }
      partitions.push(result);
    }
    res.topics.push({ name: t.name, partitions });
  }
  return res;
}

/** The DeleteRecords route. */
export const deleteRecordsRoute: ApiRoute<DeleteRecordsRequest, DeleteRecordsResponse> = {
  apiKey: ApiKey.DeleteRecords,
  name: "DeleteRecords",
  minVersion: 0,
  maxVersion: 2,
  advertised: true,
  decode: decodeDeleteRecordsRequest,
  encode: encodeDeleteRecordsResponse,
  handle: _deleteRecords,
};
