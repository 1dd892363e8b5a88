/**
 * Kafka's ACL semantics as a pure function of an ACL list: resource types, LITERAL and PREFIXED
 * patterns (a LITERAL `*` matches every name), operations with `All` and implied `Describe`,
 * principals and hosts with `*` wildcards, Deny winning over Allow, super users, and
 * `allow.everyone.if.no.acl.found` for resources no ACL names.
 *
 * @module
 */

import type {
  AclBinding,
  AclOperation,
  PatternType,
  ResourceType,
} from "../../model/security_metadata.ts";

// The types live in model/ since the controller's metadata holds ACLs too.
export type { AclBinding, AclOperation, PatternType, ResourceType };

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

/**
 * Whether the principal may do `operation` on at least one resource of `resourceType` (Kafka's
 * `authorizeByResourceType`, used for an idempotent producer's InitProducerId: Write on any topic
 * is enough). An Allow counts unless a Deny of the same operation (or All) for this principal
 * covers every name it allows: a LITERAL `*` Deny, the same LITERAL name, or a PREFIXED Deny
 * whose prefix starts the allowed name or prefix.
 */
export function authorizeAnyResource(
  acls: readonly AclBinding[],
  req: Omit<AccessRequest, "resourceName">,
  settings: AuthorizerSettings,
): boolean {
  if (settings.superUsers.includes(req.principal)) return true;
  const probe = { ...req, resourceName: "" };
  const mine = acls.filter((a) => a.resourceType === req.resourceType && _whoMatches(a, probe));
  const covers = (a: AclBinding) => a.operation === "All" || a.operation === req.operation;
  const denies = mine.filter((a) => a.permission === "Deny" && covers(a));
  return mine.some((a) =>
    a.permission === "Allow" && covers(a) && !denies.some((d) => _denyCovers(d, a))
  );
}

function _denyCovers(deny: AclBinding, allow: AclBinding): boolean {
  if (deny.patternType === "LITERAL") {
    return deny.resourceName === "*" ||
      (allow.patternType === "LITERAL" && allow.resourceName === deny.resourceName);
  }
  // A LITERAL "*" Allow names every topic; only an empty prefix denies them all.
  if (allow.patternType === "LITERAL" && allow.resourceName === "*") {
    return deny.resourceName === "";
  }
  return allow.resourceName.startsWith(deny.resourceName);
}
