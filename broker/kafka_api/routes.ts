/**
 * The table of Kafka APIs a broker serves. ApiVersions advertises exactly these (plus itself).
 *
 * @module
 */

import type { ApiRoute } from "./request_router.ts";
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
import { findCoordinatorRoute } from "../group/group_handlers.ts";
import { joinGroupRoute } from "../group/group_handlers.ts";
import { syncGroupRoute } from "../group/group_handlers.ts";
import { heartbeatRoute } from "../group/group_handlers.ts";
import { leaveGroupRoute } from "../group/group_handlers.ts";
import { offsetCommitRoute } from "../group/offset_handlers.ts";
import { offsetFetchRoute } from "../group/offset_handlers.ts";
import { listGroupsRoute } from "../group/group_admin_handlers.ts";
import { describeGroupsRoute } from "../group/group_admin_handlers.ts";
import { deleteGroupsRoute } from "../group/group_admin_handlers.ts";
import {
  addOffsetsToTxnRoute,
  addPartitionsToTxnRoute,
  describeTransactionsRoute,
  endTxnRoute,
  listTransactionsRoute,
  txnOffsetCommitRoute,
} from "../txn/txn_handlers.ts";

/** Every route a broker serves. */
export const BROKER_ROUTES: readonly ApiRoute<never, never>[] = [
  produceRoute,
  fetchRoute,
  listOffsetsRoute,
  metadataRoute,
  deleteRecordsRoute,
  createTopicsRoute,
  deleteTopicsRoute,
  initProducerIdRoute,
  describeConfigsRoute,
  alterConfigsRoute,
  incrementalAlterConfigsRoute,
  createPartitionsRoute,
  findCoordinatorRoute,
  joinGroupRoute,
  syncGroupRoute,
  heartbeatRoute,
  leaveGroupRoute,
  offsetCommitRoute,
  offsetFetchRoute,
  listGroupsRoute,
  describeGroupsRoute,
  deleteGroupsRoute,
  addPartitionsToTxnRoute,
  addOffsetsToTxnRoute,
  endTxnRoute,
  txnOffsetCommitRoute,
  describeTransactionsRoute,
  listTransactionsRoute,
] as unknown as readonly ApiRoute<never, never>[];
