/**
 * Users (SCRAM credentials) and ACL bindings as the controller's metadata holds them and brokers
 * receive them. Shared by the controller's state machine, the admin REST API and the broker's
 * authorizer, so the three agree on one shape and one filter semantics.
 *
 * Only a salt, an iteration count, StoredKey and ServerKey are kept per credential (RFC 5802):
 * never a password or a salted password.
 *
 * @module
 */

/** Kafka resource types the authorizer knows. */
export type ResourceType = "Topic" | "Group" | "Cluster" | "TransactionalId";
/** How an ACL's resource name matches. */
export type PatternType = "LITERAL" | "PREFIXED";
/** Kafka ACL operations. */
export type AclOperation =
  | "All"
  | "Read"
  | "Write"
  | "Create"
  | "Delete"
  | "Alter"
  | "Describe"
  | "ClusterAction"
  | "DescribeConfigs"
  | "AlterConfigs"
  | "IdempotentWrite";

/** The SCRAM mechanisms credentials exist for. */
export type ScramMechanismName = "SCRAM-SHA-256" | "SCRAM-SHA-512";

/** Every resource type, operation and mechanism, for validating input. */
export const RESOURCE_TYPES: readonly ResourceType[] = [
  "Topic",
  "Group",
  "Cluster",
  "TransactionalId",
];
export const PATTERN_TYPES: readonly PatternType[] = ["LITERAL", "PREFIXED"];
export const ACL_OPERATIONS: readonly AclOperation[] = [
  "All",
  "Read",
  "Write",
  "Create",
  "Delete",
  "Alter",
  "Describe",
  "ClusterAction",
  "DescribeConfigs",
  "AlterConfigs",
  "IdempotentWrite",
];
export const SCRAM_MECHANISM_NAMES: readonly ScramMechanismName[] = [
  "SCRAM-SHA-256",
  "SCRAM-SHA-512",
];

/** One ACL binding, as Kafka's CreateAcls carries it. */
export interface AclBinding {
  readonly resourceType: ResourceType;
  readonly resourceName: string;
  readonly patternType: PatternType;
  /** `User:<name>` or `User:*`. */
  readonly principal: string;
  /** A client address or `*`. */
  readonly host: string;
  readonly operation: AclOperation;
  readonly permission: "Allow" | "Deny";
}

/** Matches ACLs for DescribeAcls and DeleteAcls; an absent field matches anything. */
export interface AclFilter {
  readonly resourceType?: ResourceType;
  readonly resourceName?: string;
  /** LITERAL or PREFIXED match exactly; `MATCH` matches any ACL that applies to the name. */
  readonly patternType?: PatternType | "MATCH";
  readonly principal?: string;
  readonly host?: string;
  readonly operation?: AclOperation;
  readonly permission?: AclBinding["permission"];
}

/** One stored SCRAM credential; the byte fields are base64. */
export interface StoredScramCredential {
  readonly salt: string;
  readonly iterations: number;
  readonly storedKey: string;
  readonly serverKey: string;
}

/** Users by name, each with a credential per mechanism. */
export type ScramUsers = Record<string, Partial<Record<ScramMechanismName, StoredScramCredential>>>;

/** Longest user name, resource name, principal or host accepted. */
export const SECURITY_NAME_CHARS_MAX = 255;

/**
 * Why `b` is not a valid binding, or null. Checks every field, so a binding from the network
 * can only be refused as a whole and never half-applied.
 *
 * @example
 * ```ts
 * import { aclBindingProblem } from "./security_metadata.ts";
 * import assert from "node:assert/strict";
 * const ok = {
 *   resourceType: "Topic", resourceName: "orders", patternType: "LITERAL",
 *   principal: "User:alice", host: "*", operation: "Read", permission: "Allow",
 * };
 * assert.equal(aclBindingProblem(ok), null);
 * assert.match(aclBindingProblem({ ...ok, principal: "alice" })!, /User:/);
 * ```
 */
export function aclBindingProblem(b: unknown): string | null {
  if (typeof b !== "object" || b === null) return "an ACL must be an object";
  const x = b as Record<string, unknown>;
  if (!RESOURCE_TYPES.includes(x.resourceType as ResourceType)) {
    return `resource type must be one of ${RESOURCE_TYPES.join(", ")}: current value is ${
      String(x.resourceType)
    }`;
  }
  if (!PATTERN_TYPES.includes(x.patternType as PatternType)) {
    return `pattern type must be LITERAL or PREFIXED: current value is ${String(x.patternType)}`;
  }
  if (!ACL_OPERATIONS.includes(x.operation as AclOperation)) {
    return `operation must be one of ${ACL_OPERATIONS.join(", ")}: current value is ${
      String(x.operation)
    }`;
  }
  if (x.permission !== "Allow" && x.permission !== "Deny") {
    return `permission must be Allow or Deny: current value is ${String(x.permission)}`;
  }
  for (const f of ["resourceName", "principal", "host"]) {
    const v = x[f];
    if (typeof v !== "string" || v === "" || v.length > SECURITY_NAME_CHARS_MAX) {
      return `${f} must be 1 to ${SECURITY_NAME_CHARS_MAX} characters`;
    }
  }
  if (!/^User:.+/.test(x.principal as string)) {
    return `principal must be User:<name>: current value is ${String(x.principal)}`;
  }
  if (x.resourceType === "Cluster" && x.resourceName !== "kafka-cluster") {
    return "the Cluster resource is named kafka-cluster";
  }
  return null;
}

/** Whether two bindings are the same ACL. */
export function sameAcl(a: AclBinding, b: AclBinding): boolean {
  return a.resourceType === b.resourceType && a.resourceName === b.resourceName &&
    a.patternType === b.patternType && a.principal === b.principal && a.host === b.host &&
    a.operation === b.operation && a.permission === b.permission;
}

/**
 * Whether `acl` matches `filter` (Kafka's AclBindingFilter semantics).
 *
 * @example
 * ```ts
 * import { aclMatches } from "./security_metadata.ts";
 * import assert from "node:assert/strict";
 * const acl = {
 *   resourceType: "Topic", resourceName: "ord", patternType: "PREFIXED",
 *   principal: "User:a", host: "*", operation: "Read", permission: "Allow",
 * } as const;
 * assert.equal(aclMatches(acl, { patternType: "MATCH", resourceName: "orders" }), true);
 * assert.equal(aclMatches(acl, { patternType: "LITERAL" }), false);
 * ```
 */
export function aclMatches(acl: AclBinding, filter: AclFilter): boolean {
  if (filter.resourceType !== undefined && acl.resourceType !== filter.resourceType) return false;
  if (filter.patternType === "MATCH") {
    if (filter.resourceName !== undefined && !_applies(acl, filter.resourceName)) return false;
  } else {
    if (filter.patternType !== undefined && acl.patternType !== filter.patternType) return false;
    if (filter.resourceName !== undefined && acl.resourceName !== filter.resourceName) return false;
  }
  if (filter.principal !== undefined && acl.principal !== filter.principal) return false;
  if (filter.host !== undefined && acl.host !== filter.host) return false;
  if (filter.operation !== undefined && acl.operation !== filter.operation) return false;
  return filter.permission === undefined || acl.permission === filter.permission;
}

function _applies(acl: AclBinding, name: string): boolean {
  if (acl.patternType === "PREFIXED") return name.startsWith(acl.resourceName);
  return acl.resourceName === "*" || acl.resourceName === name;
}

/** Why `f` is not a valid filter, or null; every field is optional. */
export function aclFilterProblem(f: unknown): string | null {
  if (typeof f !== "object" || f === null || Array.isArray(f)) return "a filter must be an object";
  const x = f as Record<string, unknown>;
  if (x.resourceType !== undefined && !RESOURCE_TYPES.includes(x.resourceType as ResourceType)) {
    return `resource type filter is unknown: current value is ${String(x.resourceType)}`;
  }
  if (
    x.patternType !== undefined && x.patternType !== "MATCH" &&
    !PATTERN_TYPES.includes(x.patternType as PatternType)
  ) return `pattern type filter is unknown: current value is ${String(x.patternType)}`;
  if (x.operation !== undefined && !ACL_OPERATIONS.includes(x.operation as AclOperation)) {
    return `operation filter is unknown: current value is ${String(x.operation)}`;
  }
  if (x.permission !== undefined && x.permission !== "Allow" && x.permission !== "Deny") {
    return `permission filter must be Allow or Deny: current value is ${String(x.permission)}`;
  }
  for (const k of ["resourceName", "principal", "host"]) {
    if (x[k] !== undefined && typeof x[k] !== "string") return `${k} filter must be a string`;
  }
  return null;
}

/** Why `c` is not a valid stored credential, or null. */
export function storedCredentialProblem(c: unknown): string | null {
  if (typeof c !== "object" || c === null) return "a credential must be an object";
  const x = c as Record<string, unknown>;
  const b64 = (v: unknown) =>
    typeof v === "string" && v.length > 0 && v.length <= 1024 && /^[A-Za-z0-9+/]+=*$/.test(v);
  if (!b64(x.salt) || !b64(x.storedKey) || !b64(x.serverKey)) {
    return "salt, storedKey and serverKey must be base64";
  }
  if (!Number.isInteger(x.iterations) || (x.iterations as number) < 1) {
    return "iterations must be a positive integer";
  }
  return null;
}

/** Why `name` cannot be a user name, or null. */
export function userNameProblem(name: unknown): string | null {
  if (typeof name !== "string" || name === "" || name.length > SECURITY_NAME_CHARS_MAX) {
    return `a user name must be 1 to ${SECURITY_NAME_CHARS_MAX} characters`;
  }
  // SCRAM escapes ',' and '=' in names; control characters have no business in a principal.
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f]/.test(name)) return "a user name must not contain control characters";
  return null;
}
