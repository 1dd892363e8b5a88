/**
 * Routes of the classic group membership protocol: FindCoordinator (10), JoinGroup (11),
 * Heartbeat (12), LeaveGroup (13) and SyncGroup (14). Each handler translates one wire version
 * to the coordinator's version-free requests and back, setting version-specific response fields
 * only for the versions that carry them (the encoders reject anything else).
 *
 * Handlers call the coordinator before their first `await`, so requests of one connection reach
 * the state machine in the order the client sent them.
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createFindCoordinatorResponse,
  createHeartbeatResponse,
  createJoinGroupResponse,
  createLeaveGroupResponse,
  createSyncGroupResponse,
  decodeFindCoordinatorRequest,
  decodeHeartbeatRequest,
  decodeJoinGroupRequest,
  decodeLeaveGroupRequest,
  decodeSyncGroupRequest,
  encodeFindCoordinatorResponse,
  encodeHeartbeatResponse,
  encodeJoinGroupResponse,
  encodeLeaveGroupResponse,
  encodeSyncGroupResponse,
  type FindCoordinatorRequest,
  type FindCoordinatorResponse,
  type FindCoordinatorResponseCoordinator,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type JoinGroupRequest,
  type JoinGroupResponse,
  type LeaveGroupRequest,
  type LeaveGroupResponse,
  type SyncGroupRequest,
  type SyncGroupResponse,
} from "../../protocol/kafka/messages/mod.ts";
import type { ApiRoute } from "./request_router.ts";
import type { RequestContext } from "./broker_context.ts";
import type { GroupService } from "../group/group_service.ts";
import type { JoinResult, SyncResult } from "../group/group_types.ts";

/** FindCoordinator's key types: consumer groups and transactional ids. */
const _KEY_TYPE_GROUP = 0;
const _KEY_TYPE_TXN = 1;

/**
 * The group service of the broker when it coordinates `groupId`, else the error code to answer
 * with: COORDINATOR_NOT_AVAILABLE without a service, NOT_COORDINATOR for another broker's group.
 */
export function groupServiceFor(ctx: RequestContext, groupId: string): GroupService | number {
  const svc = ctx.broker.groups;
  if (svc === undefined) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  return svc.isCoordinatorFor(groupId) ? svc : ErrorCode.NOT_COORDINATOR;
}

// ----------------------------------------------------------------- FindCoordinator

async function _locate(
  ctx: RequestContext,
  key: string,
  keyType: number,
): Promise<FindCoordinatorResponseCoordinator> {
  const out = {
    key,
    nodeId: -1,
    host: "",
    port: -1,
    errorCode: ErrorCode.NONE,
    errorMessage: null as string | null,
  };
  if (keyType === _KEY_TYPE_TXN) {
    const txns = ctx.broker.txns;
    // Transactions switched off: a non-retriable answer, so clients fail at once instead of
    // retrying until their timeout (COORDINATOR_NOT_AVAILABLE would be retried).
    if (txns === undefined) {
      return {
        ...out,
        errorCode: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        errorMessage: "transactions are disabled on this broker (broker.transactions_enabled)",
      };
    }
    if (key === "") return { ...out, errorCode: ErrorCode.INVALID_REQUEST };
    const found = await txns.locate(key);
    if (typeof found === "number") return { ...out, errorCode: found };
    return { ...out, ...found };
  }
  const svc = ctx.broker.groups;
  if (keyType !== _KEY_TYPE_GROUP || svc === undefined) {
    return { ...out, errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE };
  }
  if (key === "") return { ...out, errorCode: ErrorCode.INVALID_GROUP_ID };
  const found = await svc.locate(key);
  if (typeof found === "number") return { ...out, errorCode: found };
  return { ...out, ...found };
}

async function _findCoordinator(
  req: FindCoordinatorRequest,
  ctx: RequestContext,
): Promise<FindCoordinatorResponse> {
  const v = ctx.header.apiVersion;
  const res = createFindCoordinatorResponse();
  if (v >= 4) {
    res.coordinators = await Promise.all(
      req.coordinatorKeys.map((k) => _locate(ctx, k, req.keyType)),
    );
    return res;
  }
  const c = await _locate(ctx, req.key, req.keyType);
  res.errorCode = c.errorCode;
  res.nodeId = c.nodeId;
  res.host = c.host;
  res.port = c.port;
  if (v >= 1) res.errorMessage = c.errorMessage;
  return res;
}

/** The FindCoordinator route (v4+ carries a batch of keys). */
export const findCoordinatorRoute: ApiRoute<FindCoordinatorRequest, FindCoordinatorResponse> = {
  apiKey: ApiKey.FindCoordinator,
  name: "FindCoordinator",
  minVersion: 0,
  maxVersion: 4,
  advertised: true,
  decode: decodeFindCoordinatorRequest,
  encode: encodeFindCoordinatorResponse,
  handle: _findCoordinator,
};

// ----------------------------------------------------------------------- JoinGroup

function _joinResponse(r: JoinResult, v: number): JoinGroupResponse {
  const res = createJoinGroupResponse();
  res.errorCode = r.errorCode;
  res.generationId = r.generationId;
  // protocolType appeared in v7, and protocolName became nullable there.
  if (v >= 7) res.protocolType = r.protocolType;
  res.protocolName = v >= 7 ? r.protocolName : r.protocolName ?? "";
  res.leader = r.leaderId;
  res.memberId = r.memberId;
  res.members = r.members.map((m) => ({
    memberId: m.memberId,
    groupInstanceId: v >= 5 ? m.groupInstanceId : null,
    metadata: m.metadata,
  }));
  return res;
}

function _joinGroup(req: JoinGroupRequest, ctx: RequestContext): Promise<JoinGroupResponse> {
  const v = ctx.header.apiVersion;
  const svc = groupServiceFor(ctx, req.groupId);
  if (typeof svc === "number") {
    return Promise.resolve(_joinResponse(_joinFailure(svc, req.memberId), v));
  }
  return new Promise((resolve) => {
    svc.coordinator.join({
      groupId: req.groupId,
      memberId: req.memberId,
      groupInstanceId: req.groupInstanceId,
      clientId: ctx.header.clientId ?? "",
      clientHost: `/${ctx.connection.remoteAddr.hostname}`,
      sessionTimeoutMs: req.sessionTimeoutMs,
      // v0 has no rebalance timeout: Kafka uses the session timeout.
      rebalanceTimeoutMs: v >= 1 ? req.rebalanceTimeoutMs : req.sessionTimeoutMs,
      protocolType: req.protocolType,
      protocols: req.protocols,
      requireKnownMemberId: v >= 4,
    }, (r) => resolve(_joinResponse(r, v)));
  });
}

function _joinFailure(errorCode: number, memberId: string): JoinResult {
  return {
    errorCode,
    generationId: -1,
    protocolType: null,
    protocolName: null,
    leaderId: "",
    memberId,
    members: [],
  };
}

/** The JoinGroup route. */
export const joinGroupRoute: ApiRoute<JoinGroupRequest, JoinGroupResponse> = {
  apiKey: ApiKey.JoinGroup,
  name: "JoinGroup",
  minVersion: 0,
  maxVersion: 9,
  advertised: true,
  decode: decodeJoinGroupRequest,
  encode: encodeJoinGroupResponse,
  handle: _joinGroup,
};

// ----------------------------------------------------------------------- SyncGroup

function _syncResponse(r: SyncResult, v: number): SyncGroupResponse {
  const res = createSyncGroupResponse();
  res.errorCode = r.errorCode;
  res.assignment = r.assignment;
  if (v >= 5) {
    res.protocolType = r.protocolType;
    res.protocolName = r.protocolName;
  }
  return res;
}

function _syncGroup(req: SyncGroupRequest, ctx: RequestContext): Promise<SyncGroupResponse> {
  const v = ctx.header.apiVersion;
  const svc = groupServiceFor(ctx, req.groupId);
  const empty = new Uint8Array(0);
  if (typeof svc === "number") {
    const r = { errorCode: svc, protocolType: null, protocolName: null, assignment: empty };
    return Promise.resolve(_syncResponse(r, v));
  }
  return new Promise((resolve) => {
    svc.coordinator.sync({
      groupId: req.groupId,
      generationId: req.generationId,
      memberId: req.memberId,
      groupInstanceId: req.groupInstanceId,
      protocolType: req.protocolType,
      protocolName: req.protocolName,
      assignments: new Map(req.assignments.map((a) => [a.memberId, a.assignment])),
    }, (r) => resolve(_syncResponse(r, v)));
  });
}

/** The SyncGroup route. */
export const syncGroupRoute: ApiRoute<SyncGroupRequest, SyncGroupResponse> = {
  apiKey: ApiKey.SyncGroup,
  name: "SyncGroup",
  minVersion: 0,
  maxVersion: 5,
  advertised: true,
  decode: decodeSyncGroupRequest,
  encode: encodeSyncGroupResponse,
  handle: _syncGroup,
};

// ----------------------------------------------------------------------- Heartbeat

function _heartbeat(req: HeartbeatRequest, ctx: RequestContext): Promise<HeartbeatResponse> {
  const res = createHeartbeatResponse();
  const svc = groupServiceFor(ctx, req.groupId);
  res.errorCode = typeof svc === "number" ? svc : svc.coordinator.heartbeat(req);
  return Promise.resolve(res);
}

/** The Heartbeat route. */
export const heartbeatRoute: ApiRoute<HeartbeatRequest, HeartbeatResponse> = {
  apiKey: ApiKey.Heartbeat,
  name: "Heartbeat",
  minVersion: 0,
  maxVersion: 4,
  advertised: true,
  decode: decodeHeartbeatRequest,
  encode: encodeHeartbeatResponse,
  handle: _heartbeat,
};

// ---------------------------------------------------------------------- LeaveGroup

function _leaveGroup(req: LeaveGroupRequest, ctx: RequestContext): Promise<LeaveGroupResponse> {
  const v = ctx.header.apiVersion;
  const res = createLeaveGroupResponse();
  // v0-2 name one member; v3+ a batch, possibly of static members by instance id only.
  const leaving = v >= 3
    ? req.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId }))
    : [{ memberId: req.memberId, groupInstanceId: null }];
  const svc = groupServiceFor(ctx, req.groupId);
  if (typeof svc === "number") {
    res.errorCode = svc;
    return Promise.resolve(res);
  }
  const r = svc.coordinator.leave(req.groupId, leaving);
  res.errorCode = r.errorCode;
  if (v >= 3) {
    res.members = r.members.map((m) => ({ ...m }));
  } else if (r.errorCode === ErrorCode.NONE) {
    res.errorCode = r.members[0]?.errorCode ?? ErrorCode.NONE;
  }
  return Promise.resolve(res);
}

/** The LeaveGroup route. */
export const leaveGroupRoute: ApiRoute<LeaveGroupRequest, LeaveGroupResponse> = {
  apiKey: ApiKey.LeaveGroup,
  name: "LeaveGroup",
  minVersion: 0,
  maxVersion: 5,
  advertised: true,
  decode: decodeLeaveGroupRequest,
  encode: encodeLeaveGroupResponse,
  handle: _leaveGroup,
};
