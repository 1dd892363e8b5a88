/**
 * The table of Kafka APIs a broker serves. ApiVersions advertises exactly these (plus itself).
 *
 * @module
 */

import { type AnyRoute, anyRoute } from "./request_router.ts";
import { metadataRoute } from "./metadata_handler.ts";
import { produceRoute } from "./produce_handler.ts";
import { fetchRoute } from "./fetch_handler.ts";
import { listOffsetsRoute } from "./list_offsets_handler.ts";
import { initProducerIdRoute } from "./init_producer_id_handler.ts";
import { deleteRecordsRoute } from "./delete_records_handler.ts";
import {
  alterConfigsRoute,
  createPartitionsRoute,
  createTopicsRoute,
  deleteTopicsRoute,
  describeConfigsRoute,
  incrementalAlterConfigsRoute,
} from "./topic_admin_handlers.ts";
import { findCoordinatorRoute } from "./group_handlers.ts";
import { joinGroupRoute } from "./group_handlers.ts";
import { syncGroupRoute } from "./group_handlers.ts";
import { heartbeatRoute } from "./group_handlers.ts";
import { leaveGroupRoute } from "./group_handlers.ts";
import { offsetCommitRoute } from "./offset_handlers.ts";
import { offsetFetchRoute } from "./offset_handlers.ts";
import { listGroupsRoute } from "./group_admin_handlers.ts";
import { describeGroupsRoute } from "./group_admin_handlers.ts";
import { deleteGroupsRoute } from "./group_admin_handlers.ts";
import {
  addOffsetsToTxnRoute,
  addPartitionsToTxnRoute,
  describeTransactionsRoute,
  endTxnRoute,
  listTransactionsRoute,
  txnOffsetCommitRoute,
} from "./txn_handlers.ts";
import { writeTxnMarkersRoute } from "./write_txn_markers_handler.ts";

/** Every route a broker serves. */
export const BROKER_ROUTES: readonly AnyRoute[] = [
  anyRoute(produceRoute),
  anyRoute(fetchRoute),
  anyRoute(listOffsetsRoute),
  anyRoute(metadataRoute),
  anyRoute(deleteRecordsRoute),
  anyRoute(createTopicsRoute),
  anyRoute(deleteTopicsRoute),
  anyRoute(initProducerIdRoute),
  anyRoute(describeConfigsRoute),
  anyRoute(alterConfigsRoute),
  anyRoute(incrementalAlterConfigsRoute),
  anyRoute(createPartitionsRoute),
  anyRoute(findCoordinatorRoute),
  anyRoute(joinGroupRoute),
  anyRoute(syncGroupRoute),
  anyRoute(heartbeatRoute),
  anyRoute(leaveGroupRoute),
  anyRoute(offsetCommitRoute),
  anyRoute(offsetFetchRoute),
  anyRoute(listGroupsRoute),
  anyRoute(describeGroupsRoute),
  anyRoute(deleteGroupsRoute),
  anyRoute(addPartitionsToTxnRoute),
  anyRoute(addOffsetsToTxnRoute),
  anyRoute(endTxnRoute),
  anyRoute(txnOffsetCommitRoute),
  anyRoute(describeTransactionsRoute),
  anyRoute(listTransactionsRoute),
  anyRoute(writeTxnMarkersRoute),
];
