/**
 * The Kafka APIs the SDK speaks, with the version range it implements for each. A connection
 * uses the highest version inside both this range and the broker's (ApiVersions).
 *
 * The upper bounds are deliberate: Fetch stops at 12 because v13+ names topics by id only, and
 * DeleteTopics at 5 because v6+ moves names into a struct the SDK does not need.
 *
 * @module
 */

import { ApiKey } from "../protocol/kafka/api_keys.ts";
import type { Reader, Writer } from "../protocol/kafka/wire.ts";
import * as m from "../protocol/kafka/messages/mod.ts";

/** One API: its key, the versions the SDK implements, and the body codecs. */
export interface ApiSpec<Req, Res> {
  /** Name for error messages. */
  readonly name: string;
  /** Kafka API key. */
  readonly apiKey: number;
  /** Lowest version the SDK speaks. */
  readonly minVersion: number;
  /** Highest version the SDK speaks. */
  readonly maxVersion: number;
  /** Encodes a request body. */
  encode(w: Writer, body: Req, version: number): void;
  /** Decodes a response body. */
  decode(r: Reader, version: number): Res;
}

function _spec<Req, Res>(
  name: string,
  apiKey: number,
  minVersion: number,
  maxVersion: number,
  encode: (w: Writer, body: Req, version: number) => void,
  decode: (r: Reader, version: number) => Res,
): ApiSpec<Req, Res> {
  return { name, apiKey, minVersion, maxVersion, encode, decode };
}

/** ApiVersions: v3 first; a broker that lacks it answers in v0 format (KIP-511). */
export const API_VERSIONS: ApiSpec<m.ApiVersionsRequest, m.ApiVersionsResponse> = _spec(
  "ApiVersions",
  ApiKey.ApiVersions,
  0,
  3,
  m.encodeApiVersionsRequest,
  m.decodeApiVersionsResponse,
);

/** Produce (v3 is the first with RecordBatch v2). */
export const PRODUCE: ApiSpec<m.ProduceRequest, m.ProduceResponse> = _spec(
  "Produce",
  ApiKey.Produce,
  3,
  11,
  m.encodeProduceRequest,
  m.decodeProduceResponse,
);

/** Fetch (v4 is the first with RecordBatch v2 and isolation levels). */
export const FETCH: ApiSpec<m.FetchRequest, m.FetchResponse> = _spec(
  "Fetch",
  ApiKey.Fetch,
  4,
  12,
  m.encodeFetchRequest,
  m.decodeFetchResponse,
);

/** ListOffsets (v1 is the first with a single offset per partition). */
export const LIST_OFFSETS: ApiSpec<m.ListOffsetsRequest, m.ListOffsetsResponse> = _spec(
  "ListOffsets",
  ApiKey.ListOffsets,
  1,
  7,
  m.encodeListOffsetsRequest,
  m.decodeListOffsetsResponse,
);

/** Metadata (v1 is the first that can ask for all topics with null). */
export const METADATA: ApiSpec<m.MetadataRequest, m.MetadataResponse> = _spec(
  "Metadata",
  ApiKey.Metadata,
  1,
  12,
  m.encodeMetadataRequest,
  m.decodeMetadataResponse,
);

/** CreateTopics. */
export const CREATE_TOPICS: ApiSpec<m.CreateTopicsRequest, m.CreateTopicsResponse> = _spec(
  "CreateTopics",
  ApiKey.CreateTopics,
  1,
  7,
  m.encodeCreateTopicsRequest,
  m.decodeCreateTopicsResponse,
);

/** DeleteTopics. */
export const DELETE_TOPICS: ApiSpec<m.DeleteTopicsRequest, m.DeleteTopicsResponse> = _spec(
  "DeleteTopics",
  ApiKey.DeleteTopics,
  1,
  5,
  m.encodeDeleteTopicsRequest,
  m.decodeDeleteTopicsResponse,
);

/** DescribeConfigs. */
export const DESCRIBE_CONFIGS: ApiSpec<m.DescribeConfigsRequest, m.DescribeConfigsResponse> = _spec(
  "DescribeConfigs",
  ApiKey.DescribeConfigs,
  0,
  4,
  m.encodeDescribeConfigsRequest,
  m.decodeDescribeConfigsResponse,
);

/** IncrementalAlterConfigs. */
export const INCREMENTAL_ALTER_CONFIGS: ApiSpec<
  m.IncrementalAlterConfigsRequest,
  m.IncrementalAlterConfigsResponse
> = _spec(
  "IncrementalAlterConfigs",
  ApiKey.IncrementalAlterConfigs,
  0,
  1,
  m.encodeIncrementalAlterConfigsRequest,
  m.decodeIncrementalAlterConfigsResponse,
);

/** InitProducerId. */
export const INIT_PRODUCER_ID: ApiSpec<m.InitProducerIdRequest, m.InitProducerIdResponse> = _spec(
  "InitProducerId",
  ApiKey.InitProducerId,
  0,
  4,
  m.encodeInitProducerIdRequest,
  m.decodeInitProducerIdResponse,
);

/** FindCoordinator (v4 batches keys; the SDK fills whichever form the version uses). */
export const FIND_COORDINATOR: ApiSpec<m.FindCoordinatorRequest, m.FindCoordinatorResponse> = _spec(
  "FindCoordinator",
  ApiKey.FindCoordinator,
  0,
  4,
  m.encodeFindCoordinatorRequest,
  m.decodeFindCoordinatorResponse,
);

/** JoinGroup (v1 is the first with a rebalance timeout; v5 adds static membership). */
export const JOIN_GROUP: ApiSpec<m.JoinGroupRequest, m.JoinGroupResponse> = _spec(
  "JoinGroup",
  ApiKey.JoinGroup,
  1,
  9,
  m.encodeJoinGroupRequest,
  m.decodeJoinGroupResponse,
);

/** SyncGroup. */
export const SYNC_GROUP: ApiSpec<m.SyncGroupRequest, m.SyncGroupResponse> = _spec(
  "SyncGroup",
  ApiKey.SyncGroup,
  0,
  5,
  m.encodeSyncGroupRequest,
  m.decodeSyncGroupResponse,
);

/** Heartbeat. */
export const HEARTBEAT: ApiSpec<m.HeartbeatRequest, m.HeartbeatResponse> = _spec(
  "Heartbeat",
  ApiKey.Heartbeat,
  0,
  4,
  m.encodeHeartbeatRequest,
  m.decodeHeartbeatResponse,
);

/** LeaveGroup (v3+ names members in a list). */
export const LEAVE_GROUP: ApiSpec<m.LeaveGroupRequest, m.LeaveGroupResponse> = _spec(
  "LeaveGroup",
  ApiKey.LeaveGroup,
  0,
  5,
  m.encodeLeaveGroupRequest,
  m.decodeLeaveGroupResponse,
);

/** OffsetCommit (v2 is the first without a per-partition timestamp). */
export const OFFSET_COMMIT: ApiSpec<m.OffsetCommitRequest, m.OffsetCommitResponse> = _spec(
  "OffsetCommit",
  ApiKey.OffsetCommit,
  2,
  8,
  m.encodeOffsetCommitRequest,
  m.decodeOffsetCommitResponse,
);

/**
 * OffsetFetch. It stops at 7 because v8 batches groups in another layout the SDK does not
 * need; v2+ may ask for every topic with null.
 */
export const OFFSET_FETCH: ApiSpec<m.OffsetFetchRequest, m.OffsetFetchResponse> = _spec(
  "OffsetFetch",
  ApiKey.OffsetFetch,
  2,
  7,
  m.encodeOffsetFetchRequest,
  m.decodeOffsetFetchResponse,
);

/** DescribeGroups. */
export const DESCRIBE_GROUPS: ApiSpec<m.DescribeGroupsRequest, m.DescribeGroupsResponse> = _spec(
  "DescribeGroups",
  ApiKey.DescribeGroups,
  0,
  5,
  m.encodeDescribeGroupsRequest,
  m.decodeDescribeGroupsResponse,
);

/** ListGroups. */
export const LIST_GROUPS: ApiSpec<m.ListGroupsRequest, m.ListGroupsResponse> = _spec(
  "ListGroups",
  ApiKey.ListGroups,
  0,
  5,
  m.encodeListGroupsRequest,
  m.decodeListGroupsResponse,
);

/** SaslHandshake: v1 moves the exchange into SaslAuthenticate frames (KIP-152). */
export const SASL_HANDSHAKE: ApiSpec<m.SaslHandshakeRequest, m.SaslHandshakeResponse> = _spec(
  "SaslHandshake",
  ApiKey.SaslHandshake,
  1,
  1,
  m.encodeSaslHandshakeRequest,
  m.decodeSaslHandshakeResponse,
);

/** SaslAuthenticate. */
export const SASL_AUTHENTICATE: ApiSpec<m.SaslAuthenticateRequest, m.SaslAuthenticateResponse> =
  _spec(
    "SaslAuthenticate",
    ApiKey.SaslAuthenticate,
    0,
    2,
    m.encodeSaslAuthenticateRequest,
    m.decodeSaslAuthenticateResponse,
  );
