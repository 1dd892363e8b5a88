/**
 * Kafka's security admin APIs over the broker's {@linkcode SecurityDirectory} (its own file in
 * standalone, the controller's metadata in a cluster): CreateAcls,
 * DescribeAcls and DeleteAcls (what kafkajs `admin.createAcls` and friends send), and
 * DescribeUserScramCredentials and AlterUserScramCredentials (the client salts the password; the
 * broker keeps only StoredKey and ServerKey). The router's authorization middleware guards them
 * (Describe or Alter on the Cluster).
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  type AlterUserScramCredentialsRequest,
  type AlterUserScramCredentialsResponse,
  type CreateAclsRequest,
  type CreateAclsResponse,
  decodeAlterUserScramCredentialsRequest,
  decodeCreateAclsRequest,
  decodeDeleteAclsRequest,
  decodeDescribeAclsRequest,
  decodeDescribeUserScramCredentialsRequest,
  type DeleteAclsRequest,
  type DeleteAclsResponse,
  type DescribeAclsRequest,
  type DescribeAclsResponse,
  type DescribeUserScramCredentialsRequest,
  type DescribeUserScramCredentialsResponse,
  encodeAlterUserScramCredentialsResponse,
  encodeCreateAclsResponse,
  encodeDeleteAclsResponse,
  encodeDescribeAclsResponse,
  encodeDescribeUserScramCredentialsResponse,
} from "../../protocol/kafka/messages/mod.ts";
import { type AnyRoute, anyRoute } from "../kafka_api/request_router.ts";
import type { AclBinding, AclOperation, PatternType, ResourceType } from "./acl_authorizer.ts";
import {
  credentialFromSalted,
  SCRAM_ITERATIONS_MAX,
  SCRAM_ITERATIONS_MIN,
  SCRAM_MECHANISM_IDS,
  type ScramMechanism,
} from "./scram.ts";
import type { AclFilter, SecurityDirectory } from "./security_store.ts";

// Kafka's wire enums (AclResourceType, PatternType, AclOperation, AclPermissionType).
const _RESOURCE: Record<number, ResourceType> = {
  2: "Topic",
  3: "Group",
  4: "Cluster",
  5: "TransactionalId",
};
const _PATTERN: Record<number, PatternType | "MATCH"> = { 2: "MATCH", 3: "LITERAL", 4: "PREFIXED" };
const _OPERATION: Record<number, AclOperation> = {
  2: "All",
  3: "Read",
  4: "Write",
  5: "Create",
  6: "Delete",
  7: "Alter",
  8: "Describe",
  9: "ClusterAction",
  10: "DescribeConfigs",
  11: "AlterConfigs",
  12: "IdempotentWrite",
};
const _PERMISSION: Record<number, AclBinding["permission"]> = { 2: "Deny", 3: "Allow" };
const _ANY = 1;

function _code<T extends string>(table: Record<number, T>, value: T): number {
  return Number(Object.entries(table).find(([, v]) => v === value)![0]);
}

/** Converts one CreateAcls creation; a string is why it is invalid. */
function _binding(c: CreateAclsRequest["creations"][number]): AclBinding | string {
  const resourceType = _RESOURCE[c.resourceType];
  const patternType = _PATTERN[c.resourcePatternType];
  const operation = _OPERATION[c.operation];
  const permission = _PERMISSION[c.permissionType];
  if (resourceType === undefined) return `unsupported resource type ${c.resourceType}`;
  if (patternType === undefined || patternType === "MATCH") {
    return `pattern type must be LITERAL or PREFIXED, not ${c.resourcePatternType}`;
  }
  if (operation === undefined) return `unsupported operation ${c.operation}`;
  if (permission === undefined) return `permission must be ALLOW or DENY`;
  if (!/^User:.+/.test(c.principal)) return `principal must be User:<name>, not ${c.principal}`;
  if (c.host === "") return "host must be an address or *";
  if (resourceType === "Cluster" && c.resourceName !== "kafka-cluster") {
    return "the Cluster resource is named kafka-cluster";
  }
  return {
    resourceType,
    resourceName: c.resourceName,
    patternType,
    principal: c.principal,
    host: c.host,
    operation,
    permission,
  };
}

type _WireFilter = DescribeAclsRequest;

/** Converts a DescribeAcls/DeleteAcls filter; a string is why it is invalid. */
function _filter(f: _WireFilter): AclFilter | string {
  const out: { -readonly [K in keyof AclFilter]: AclFilter[K] } = {};
  if (f.resourceTypeFilter !== _ANY) {
    const t = _RESOURCE[f.resourceTypeFilter];
    if (t === undefined) return `unsupported resource type filter ${f.resourceTypeFilter}`;
    out.resourceType = t;
  }
  if (f.patternTypeFilter !== _ANY) {
    const p = _PATTERN[f.patternTypeFilter];
    if (p === undefined) return `unsupported pattern type filter ${f.patternTypeFilter}`;
    out.patternType = p;
  }
  if (f.operation !== _ANY) {
    const o = _OPERATION[f.operation];
    if (o === undefined) return `unsupported operation filter ${f.operation}`;
    out.operation = o;
  }
  if (f.permissionType !== _ANY) {
    const p = _PERMISSION[f.permissionType];
    if (p === undefined) return `unsupported permission filter ${f.permissionType}`;
    out.permission = p;
  }
  if (f.resourceNameFilter !== null) out.resourceName = f.resourceNameFilter;
  if (f.principalFilter !== null) out.principal = f.principalFilter;
  if (f.hostFilter !== null) out.host = f.hostFilter;
  return out;
}

function _wireAcl(a: AclBinding) {
  return {
    resourceType: _code(_RESOURCE, a.resourceType),
    resourceName: a.resourceName,
    patternType: _code(_PATTERN, a.patternType),
    principal: a.principal,
    host: a.host,
    operation: _code(_OPERATION, a.operation),
    permissionType: _code(_PERMISSION, a.permission),
  };
}

/**
 * The Kafka error for a failed write (in a cluster, the controllers' refusal or their absence),
 * so the client gets a code per item instead of a closed connection.
 */
function _writeError(err: unknown): { errorCode: number; errorMessage: string } {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === "INVALID_REQUEST") {
    return { errorCode: ErrorCode.INVALID_REQUEST, errorMessage: message };
  }
  if (code === "NOT_FOUND") {
    return { errorCode: ErrorCode.RESOURCE_NOT_FOUND, errorMessage: message };
  }
  if ((err as { retriable?: unknown }).retriable === true) {
    return { errorCode: ErrorCode.REQUEST_TIMED_OUT, errorMessage: message };
  }
  return { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR, errorMessage: message };
}

async function _createAcls(store: SecurityDirectory, req: CreateAclsRequest) {
  const results: CreateAclsResponse["results"] = [];
  const valid: AclBinding[] = [];
  for (const c of req.creations) {
    const b = _binding(c);
    if (typeof b === "string") {
      results.push({
        errorCode: ErrorCode.INVALID_REQUEST,
        errorMessage: `Cannot create ACL: ${b}`,
      });
    } else {
      valid.push(b);
      results.push({ errorCode: 0, errorMessage: null });
    }
  }
  try {
    await store.addAcls(valid);
  } catch (err) {
    const e = _writeError(err);
    for (const r of results) if (r.errorCode === 0) Object.assign(r, e);
  }
  return { throttleTimeMs: 0, results };
}

function _describeAcls(store: SecurityDirectory, req: DescribeAclsRequest): DescribeAclsResponse {
  const filter = _filter(req);
  if (typeof filter === "string") {
    return {
      throttleTimeMs: 0,
      errorCode: ErrorCode.INVALID_REQUEST,
      errorMessage: filter,
      resources: [],
    };
  }
  const byResource = new Map<string, DescribeAclsResponse["resources"][number]>();
  for (const a of store.matchAcls(filter)) {
    const w = _wireAcl(a);
    const key = `${w.resourceType}\u0000${w.patternType}\u0000${a.resourceName}`;
    let r = byResource.get(key);
    if (r === undefined) {
      r = {
        resourceType: w.resourceType,
        resourceName: a.resourceName,
        patternType: w.patternType,
        acls: [],
      };
      byResource.set(key, r);
    }
    r.acls.push({
      principal: a.principal,
      host: a.host,
      operation: w.operation,
      permissionType: w.permissionType,
    });
  }
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    errorMessage: null,
    resources: [...byResource.values()],
  };
}

async function _deleteAcls(
  store: SecurityDirectory,
  req: DeleteAclsRequest,
): Promise<DeleteAclsResponse> {
  const filterResults: DeleteAclsResponse["filterResults"] = [];
  for (const f of req.filters) {
    const filter = _filter(f);
    if (typeof filter === "string") {
      filterResults.push({
        errorCode: ErrorCode.INVALID_REQUEST,
        errorMessage: filter,
        matchingAcls: [],
      });
      continue;
    }
    let removed: AclBinding[];
    try {
      removed = await store.deleteAcls(filter);
    } catch (err) {
      filterResults.push({ ..._writeError(err), matchingAcls: [] });
      continue;
    }
    filterResults.push({
      errorCode: 0,
      errorMessage: null,
      matchingAcls: removed.map((a) => ({ errorCode: 0, errorMessage: null, ..._wireAcl(a) })),
    });
  }
  return { throttleTimeMs: 0, filterResults };
}

const _MECHANISM_BY_ID: Record<number, ScramMechanism> = { 1: "SCRAM-SHA-256", 2: "SCRAM-SHA-512" };

async function _alterScram(
  store: SecurityDirectory,
  req: AlterUserScramCredentialsRequest,
): Promise<AlterUserScramCredentialsResponse> {
  const results: AlterUserScramCredentialsResponse["results"] = [];
  const seen = new Map<string, number>();
  for (const op of [...req.deletions, ...req.upsertions]) {
    seen.set(op.name, (seen.get(op.name) ?? 0) + 1);
  }
  const fail = (user: string, errorCode: number, errorMessage: string) =>
    results.push({ user, errorCode, errorMessage });
  for (const d of req.deletions) {
    const mechanism = _MECHANISM_BY_ID[d.mechanism];
    if (seen.get(d.name)! > 1) {
      fail(d.name, ErrorCode.DUPLICATE_RESOURCE, "A user may appear once per request");
    } else if (mechanism === undefined) {
      fail(d.name, ErrorCode.UNSUPPORTED_SASL_MECHANISM, `Unknown mechanism ${d.mechanism}`);
    } else {
      try {
        if (await store.deleteCredential(d.name, mechanism)) {
          results.push({ user: d.name, errorCode: 0, errorMessage: null });
        } else {
          fail(d.name, ErrorCode.RESOURCE_NOT_FOUND, `No ${mechanism} credential for ${d.name}`);
        }
      } catch (err) {
        const e = _writeError(err);
        fail(d.name, e.errorCode, e.errorMessage);
      }
    }
  }
  for (const u of req.upsertions) {
    const mechanism = _MECHANISM_BY_ID[u.mechanism];
    const hashBytes = mechanism === "SCRAM-SHA-256" ? 32 : 64;
    if (seen.get(u.name)! > 1) {
      fail(u.name, ErrorCode.DUPLICATE_RESOURCE, "A user may appear once per request");
    } else if (mechanism === undefined) {
      fail(u.name, ErrorCode.UNSUPPORTED_SASL_MECHANISM, `Unknown mechanism ${u.mechanism}`);
    } else if (u.name === "") {
      fail(u.name, ErrorCode.UNACCEPTABLE_CREDENTIAL, "The user name is empty");
    } else if (u.iterations < SCRAM_ITERATIONS_MIN || u.iterations > SCRAM_ITERATIONS_MAX) {
      fail(
        u.name,
        ErrorCode.UNACCEPTABLE_CREDENTIAL,
        `Iterations must be ${SCRAM_ITERATIONS_MIN}-${SCRAM_ITERATIONS_MAX}`,
      );
    } else if (u.saltedPassword.length !== hashBytes || u.salt.length === 0) {
      fail(
        u.name,
        ErrorCode.UNACCEPTABLE_CREDENTIAL,
        `The salted password must be ${hashBytes} bytes and the salt non-empty`,
      );
    } else {
      const cred = credentialFromSalted(mechanism, u.saltedPassword, u.salt, u.iterations);
      try {
        await store.upsertCredential(u.name, mechanism, cred);
        results.push({ user: u.name, errorCode: 0, errorMessage: null });
      } catch (err) {
        const e = _writeError(err);
        fail(u.name, e.errorCode, e.errorMessage);
      }
    }
  }
  return { throttleTimeMs: 0, results };
}

function _describeScram(
  store: SecurityDirectory,
  req: DescribeUserScramCredentialsRequest,
): DescribeUserScramCredentialsResponse {
  const all = new Map(store.users().map((u) => [u.user, u.credentials]));
  const names = req.users === null || req.users.length === 0
    ? [...all.keys()]
    : req.users.map((u) => u.name);
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    errorMessage: null,
    results: names.map((user) => {
      const creds = all.get(user);
      return creds === undefined
        ? {
          user,
          errorCode: ErrorCode.RESOURCE_NOT_FOUND,
          errorMessage: `No credentials for ${user}`,
          credentialInfos: [],
        }
        : {
          user,
          errorCode: 0,
          errorMessage: null,
          credentialInfos: creds.map((c) => ({
            mechanism: SCRAM_MECHANISM_IDS[c.mechanism],
            iterations: c.iterations,
          })),
        };
    }),
  };
}

const _NO_AUTHORIZER = "No authorizer is enabled (security.authorizer_enabled = false)";

const _DISABLED = { errorCode: ErrorCode.SECURITY_DISABLED, errorMessage: _NO_AUTHORIZER };

/**
 * The five security admin routes over `store`. Without an authorizer the ACL APIs answer
 * SECURITY_DISABLED, as Kafka does, since ACLs would have no effect.
 */
export function securityAdminRoutes(
  store: SecurityDirectory,
  authorizerEnabled: boolean,
): AnyRoute[] {
  const on = authorizerEnabled;
  return [
    anyRoute<CreateAclsRequest, CreateAclsResponse>({
      apiKey: ApiKey.CreateAcls,
      name: "CreateAcls",
      minVersion: 0,
      maxVersion: 3,
      advertised: true,
      decode: decodeCreateAclsRequest,
      encode: encodeCreateAclsResponse,
      handle: (req) =>
        on ? _createAcls(store, req) : Promise.resolve({
          throttleTimeMs: 0,
          results: req.creations.map(() => _DISABLED),
        }),
    }),
    anyRoute<DescribeAclsRequest, DescribeAclsResponse>({
      apiKey: ApiKey.DescribeAcls,
      name: "DescribeAcls",
      minVersion: 0,
      maxVersion: 3,
      advertised: true,
      decode: decodeDescribeAclsRequest,
      encode: encodeDescribeAclsResponse,
      handle: (req) =>
        Promise.resolve(
          on ? _describeAcls(store, req) : { throttleTimeMs: 0, ..._DISABLED, resources: [] },
        ),
    }),
    anyRoute<DeleteAclsRequest, DeleteAclsResponse>({
      apiKey: ApiKey.DeleteAcls,
      name: "DeleteAcls",
      minVersion: 0,
      maxVersion: 3,
      advertised: true,
      decode: decodeDeleteAclsRequest,
      encode: encodeDeleteAclsResponse,
      handle: (req) =>
        on ? _deleteAcls(store, req) : Promise.resolve({
          throttleTimeMs: 0,
          filterResults: req.filters.map(() => ({ ..._DISABLED, matchingAcls: [] })),
        }),
    }),
    anyRoute<DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse>({
      apiKey: ApiKey.DescribeUserScramCredentials,
      name: "DescribeUserScramCredentials",
      minVersion: 0,
      maxVersion: 0,
      advertised: true,
      decode: decodeDescribeUserScramCredentialsRequest,
      encode: encodeDescribeUserScramCredentialsResponse,
      handle: (req) => Promise.resolve(_describeScram(store, req)),
    }),
    anyRoute<AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse>({
      apiKey: ApiKey.AlterUserScramCredentials,
      name: "AlterUserScramCredentials",
      minVersion: 0,
      maxVersion: 0,
      advertised: true,
      decode: decodeAlterUserScramCredentialsRequest,
      encode: encodeAlterUserScramCredentialsResponse,
      handle: (req) => _alterScram(store, req),
    }),
  ];
}
