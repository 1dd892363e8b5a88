/**
 * Finding a group's coordinator: FindCoordinator on any broker, then the URL of the node it
 * names. Shared by the group consumer (which opens a dedicated connection there) and the admin
 * client (which uses the cluster's shared connection).
 *
 * @module
 */

import { ErrorCode } from "../protocol/kafka/errors.ts";
import { createFindCoordinatorRequest } from "../protocol/kafka/messages/mod.ts";
import { FIND_COORDINATOR } from "./api_specs.ts";
import type { Cluster } from "./cluster.ts";
import { brokerError } from "./errors.ts";

const _KEY_TYPE_GROUP = 0;

/** Error codes after which the coordinator must be looked up again. */
export const COORDINATOR_MOVED_CODES: ReadonlySet<number> = new Set([
  ErrorCode.NOT_COORDINATOR,
  ErrorCode.COORDINATOR_NOT_AVAILABLE,
]);

/**
 * The URL of `groupId`'s coordinator. Throws a retriable `BrokerError` (such as
 * COORDINATOR_NOT_AVAILABLE) when the cluster has none yet.
 */
export async function findCoordinatorUrl(cluster: Cluster, groupId: string): Promise<string> {
  const conn = await cluster.anyConnection();
  const version = conn.version(FIND_COORDINATOR);
  const req = createFindCoordinatorRequest();
  req.keyType = _KEY_TYPE_GROUP;
  if (version >= 4) req.coordinatorKeys = [groupId];
  else req.key = groupId;
  const res = await conn.request(FIND_COORDINATOR, req);
  if (res === null) throw brokerError(ErrorCode.UNKNOWN_SERVER_ERROR);
  const c = version >= 4 ? res.coordinators.find((x) => x.key === groupId) : res;
  if (c === undefined) throw brokerError(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  if (c.errorCode !== ErrorCode.NONE) {
    throw brokerError(c.errorCode, { brokerMessage: c.errorMessage });
  }
  const node = { nodeId: c.nodeId, host: c.host, port: c.port, rack: null };
  if (cluster.metadata.broker(c.nodeId) === undefined) await cluster.refreshMetadata([]);
  if (cluster.metadata.broker(c.nodeId) !== undefined) return cluster.urlOf(c.nodeId);
  return cluster.settings.brokerUrl(node, cluster.settings.brokers[0]!);
}
