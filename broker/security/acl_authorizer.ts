/**
 * Kafka's ACL semantics as a pure function of an ACL list: resource types, LITERAL and PREFIXED
 * patterns (a LITERAL `*` matches every name), operations with `All` and implied `Describe`,
 * principals and hosts with `*` wildcards, Deny winning over Allow, super users, and
 * `allow.everyone.if.no.acl.found` for resources no ACL names.
 *
 * @module
 */

/** Kafka resource types this authorizer knows. */
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

/** One access check. */
export interface AccessRequest {
  readonly principal: string;
  readonly host: string;
  readonly resourceType: ResourceType;
  readonly resourceName: string;
  readonly operation: AclOperation;
}

/** Settings of the authorizer. */
export interface AuthorizerSettings {
  /** Principals allowed everything (`security.super_users`). */
  readonly superUsers: readonly string[];
  /** Allow a request on a resource that no ACL names (false by default, as in Kafka). */
  readonly allowEveryoneIfNoAclFound: boolean;
}

// Kafka: allowing Read, Write, Delete or Alter implies Describe; AlterConfigs implies
// DescribeConfigs. Implication applies to Allow only; a Deny denies just its own operation.
const _IMPLIES: Readonly<Partial<Record<AclOperation, readonly AclOperation[]>>> = {
  Describe: ["Read", "Write", "Delete", "Alter"],
  DescribeConfigs: ["AlterConfigs"],
};

function _resourceMatches(acl: AclBinding, req: AccessRequest): boolean {
  if (acl.resourceType !== req.resourceType) return false;
  if (acl.patternType === "PREFIXED") return req.resourceName.startsWith(acl.resourceName);
  return acl.resourceName === "*" || acl.resourceName === req.resourceName;
}

function _whoMatches(acl: AclBinding, req: AccessRequest): boolean {
  return (acl.principal === "User:*" || acl.principal === req.principal) &&
    (acl.host === "*" || acl.host === req.host);
}

/** Decides whether `req` is allowed under `acls`. */
export function authorize(
  acls: readonly AclBinding[],
  req: AccessRequest,
  settings: AuthorizerSettings,
): boolean {
  if (settings.superUsers.includes(req.principal)) return true;
  const onResource = acls.filter((a) => _resourceMatches(a, req));
  if (onResource.length === 0) return settings.allowEveryoneIfNoAclFound;
  const mine = onResource.filter((a) => _whoMatches(a, req));
  const denied = mine.some((a) =>
    a.permission === "Deny" && (a.operation === "All" || a.operation === req.operation)
  );
  if (denied) return false;
  const allowing = new Set<AclOperation>([
    "All",
    req.operation,
    ...(_IMPLIES[req.operation] ?? []),
  ]);
  return mine.some((a) => a.permission === "Allow" && allowing.has(a.operation));
}
