/**
 * WriteTxnMarkers (API 27), v0-1: the transaction coordinator asks a partition leader to write
 * COMMIT or ABORT markers to the partitions of a transaction that it leads. Each partition
 * answers on its own: NONE once the marker is replicated (acks=all), NOT_LEADER_OR_FOLLOWER
 * when another broker leads it (the coordinator looks the leader up again and retries), or
 * the error the append met. The authorizer asks ClusterAction on the Cluster, as Kafka does.
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import {
  createWriteTxnMarkersResponse,
  decodeWriteTxnMarkersRequest,
  encodeWriteTxnMarkersResponse,
  type WriteTxnMarkersRequest,
  type WriteTxnMarkersResponse,
} from "../../protocol/kafka/messages/mod.ts";
import type { ApiRoute } from "./request_router.ts";
import type { RequestContext } from "./broker_context.ts";
import { writeMarkerHere } from "../txn/txn_marker.ts";

async function _writeTxnMarkers(
  req: WriteTxnMarkersRequest,
  ctx: RequestContext,
): Promise<WriteTxnMarkersResponse> {
  const res = createWriteTxnMarkersResponse();
  const b = ctx.broker;
  res.markers = await Promise.all(req.markers.map(async (m) => {
    const marker = {
      producerId: Number(m.producerId),
      producerEpoch: m.producerEpoch,
      commit: m.transactionResult,
      coordinatorEpoch: m.coordinatorEpoch,
    };
    const topics = await Promise.all(m.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(t.partitionIndexes.map(async (partitionIndex) => ({
        partitionIndex,
        errorCode: await writeMarkerHere(b.partitions, t.name, partitionIndex, marker, b.nowMs()),
      }))),
    })));
    return { producerId: m.producerId, topics };
  }));
  return res;
}

/** The WriteTxnMarkers route. */
export const writeTxnMarkersRoute: ApiRoute<WriteTxnMarkersRequest, WriteTxnMarkersResponse> = {
  apiKey: ApiKey.WriteTxnMarkers,
  name: "WriteTxnMarkers",
  minVersion: 0,
  maxVersion: 1,
  advertised: true,
  decode: decodeWriteTxnMarkersRequest,
  encode: encodeWriteTxnMarkersResponse,
  handle: _writeTxnMarkers,
};
