/**
 * Group administration routes: DescribeGroups (15), ListGroups (16) and DeleteGroups (42).
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createDeleteGroupsResponse,
  createDescribeGroupsResponse,
  createListGroupsResponse,
  decodeDeleteGroupsRequest,
  decodeDescribeGroupsRequest,
  decodeListGroupsRequest,
  type DeleteGroupsRequest,
  type DeleteGroupsResponse,
  type DescribeGroupsRequest,
  type DescribeGroupsResponse,
  type DescribeGroupsResponseDescribedGroup,
  encodeDeleteGroupsResponse,
  encodeDescribeGroupsResponse,
  encodeListGroupsResponse,
  type ListGroupsRequest,
  type ListGroupsResponse,
} from "../../protocol/kafka/messages/mod.ts";
import type { ApiRoute } from "./request_router.ts";
import type { RequestContext } from "./broker_context.ts";
import type { GroupState } from "../group/group_types.ts";
import { groupServiceFor } from "./group_handlers.ts";

/** The group type every RustMQ group has (KIP-848 "consumer" groups are not served). */
const _GROUP_TYPE = "classic";
const _STATES: readonly GroupState[] = [
  "Empty",
  "PreparingRebalance",
  "CompletingRebalance",
  "Stable",
  "Dead",
];

// ----------------------------------------------------------------------- ListGroups

function _listGroups(req: ListGroupsRequest, ctx: RequestContext): Promise<ListGroupsResponse> {
  const v = ctx.header.apiVersion;
  const res = createListGroupsResponse();
  const svc = ctx.broker.groups;
  if (svc === undefined) {
    res.errorCode = ErrorCode.COORDINATOR_NOT_AVAILABLE;
    return Promise.resolve(res);
  }
  // Filters match case-insensitively, as Kafka's do.
  const wantedStates = req.statesFilter.map((s) => s.toLowerCase());
  const states = _STATES.filter((s) => wantedStates.includes(s.toLowerCase()));
  if (wantedStates.length > 0 && states.length === 0) return Promise.resolve(res);
  const types = req.typesFilter.map((t) => t.toLowerCase());
  if (types.length > 0 && !types.includes(_GROUP_TYPE)) return Promise.resolve(res);
  res.groups = svc.coordinator.list(states).map((g) => ({
    groupId: g.groupId,
    protocolType: g.protocolType,
    groupState: v >= 4 ? g.state : "",
    groupType: v >= 5 ? _GROUP_TYPE : "",
  }));
  return Promise.resolve(res);
}

/** The ListGroups route. */
export const listGroupsRoute: ApiRoute<ListGroupsRequest, ListGroupsResponse> = {
  apiKey: ApiKey.ListGroups,
  name: "ListGroups",
  minVersion: 0,
  maxVersion: 5,
  advertised: true,
  decode: decodeListGroupsRequest,
  encode: encodeListGroupsResponse,
  handle: _listGroups,
};

// ------------------------------------------------------------------- DescribeGroups

function _describeOne(
  ctx: RequestContext,
  groupId: string,
  v: number,
): DescribeGroupsResponseDescribedGroup {
  const out: DescribeGroupsResponseDescribedGroup = {
    errorCode: ErrorCode.NONE,
    groupId,
    groupState: "",
    protocolType: "",
    protocolData: "",
    members: [],
    authorizedOperations: -2147483648,
  };
  const svc = groupServiceFor(ctx, groupId);
  if (typeof svc === "number") return { ...out, errorCode: svc };
  const d = svc.coordinator.describe(groupId);
  return {
    ...out,
    groupState: d.state,
    protocolType: d.protocolType,
    protocolData: d.protocolName,
    members: d.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: v >= 4 ? m.groupInstanceId : null,
      clientId: m.clientId,
      clientHost: m.clientHost,
      memberMetadata: m.metadata,
      memberAssignment: m.assignment,
    })),
  };
}

function _describeGroups(
  req: DescribeGroupsRequest,
  ctx: RequestContext,
): Promise<DescribeGroupsResponse> {
  const res = createDescribeGroupsResponse();
  res.groups = req.groups.map((g) => _describeOne(ctx, g, ctx.header.apiVersion));
  return Promise.resolve(res);
}

/** The DescribeGroups route. */
export const describeGroupsRoute: ApiRoute<DescribeGroupsRequest, DescribeGroupsResponse> = {
  apiKey: ApiKey.DescribeGroups,
  name: "DescribeGroups",
  minVersion: 0,
  maxVersion: 5,
  advertised: true,
  decode: decodeDescribeGroupsRequest,
  encode: encodeDescribeGroupsResponse,
  handle: _describeGroups,
};

// --------------------------------------------------------------------- DeleteGroups

async function _deleteGroups(
  req: DeleteGroupsRequest,
  ctx: RequestContext,
): Promise<DeleteGroupsResponse> {
  const res = createDeleteGroupsResponse();
  res.results = await Promise.all(req.groupsNames.map(async (groupId) => {
    const svc = groupServiceFor(ctx, groupId);
    const errorCode = typeof svc === "number" ? svc : await svc.deleteGroup(groupId);
    return { groupId, errorCode };
  }));
  return res;
}

/** The DeleteGroups route. */
export const deleteGroupsRoute: ApiRoute<DeleteGroupsRequest, DeleteGroupsResponse> = {
  apiKey: ApiKey.DeleteGroups,
  name: "DeleteGroups",
  minVersion: 0,
  maxVersion: 2,
  advertised: true,
  decode: decodeDeleteGroupsRequest,
  encode: encodeDeleteGroupsResponse,
  handle: _deleteGroups,
};
