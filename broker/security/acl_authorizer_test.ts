import assert from "node:assert/strict";
import {
  type AccessRequest,
  type AclBinding,
  authorize,
  authorizeAnyResource,
} from "./acl_authorizer.ts";

const _STRICT = { superUsers: ["User:admin"], allowEveryoneIfNoAclFound: false };

function _acl(over: Partial<AclBinding>): AclBinding {
  return {
    resourceType: "Topic",
    resourceName: "orders",
    patternType: "LITERAL",
    principal: "User:alice",
    host: "*",
    operation: "Write",
    permission: "Allow",
    ...over,
  };
}

function _req(over: Partial<AccessRequest>): AccessRequest {
  return {
    principal: "User:alice",
    host: "10.0.0.1",
    resourceType: "Topic",
    resourceName: "orders",
    operation: "Write",
    ...over,
  };
}

Deno.test("allow matches principal, resource and operation; others are refused", () => {
  const acls = [_acl({})];
  assert.equal(authorize(acls, _req({}), _STRICT), true);
  assert.equal(authorize(acls, _req({ principal: "User:bob" }), _STRICT), false);
  assert.equal(authorize(acls, _req({ operation: "Read" }), _STRICT), false);
  assert.equal(authorize(acls, _req({ resourceType: "Group" }), _STRICT), false);
});

Deno.test("deny wins over allow, including a deny of All", () => {
  const allow = _acl({ principal: "User:*" });
  assert.equal(authorize([allow, _acl({ permission: "Deny" })], _req({}), _STRICT), false);
  const denyAll = _acl({ operation: "All", permission: "Deny" });
  assert.equal(authorize([allow, denyAll], _req({ operation: "Read" }), _STRICT), false);
  // A deny for another principal does not touch alice.
  const denyBob = _acl({ principal: "User:bob", permission: "Deny" });
  assert.equal(authorize([allow, denyBob], _req({}), _STRICT), true);
});

Deno.test("PREFIXED patterns match by prefix; LITERAL * matches every name", () => {
  const prefixed = [_acl({ resourceName: "ord", patternType: "PREFIXED" })];
  assert.equal(authorize(prefixed, _req({ resourceName: "orders-eu" }), _STRICT), true);
  assert.equal(authorize(prefixed, _req({ resourceName: "payments" }), _STRICT), false);
  assert.equal(
    authorize([_acl({ resourceName: "*" })], _req({ resourceName: "x" }), _STRICT),
    true,
  );
  // A literal name is not a prefix.
  assert.equal(authorize([_acl({})], _req({ resourceName: "orders-eu" }), _STRICT), false);
});

Deno.test("All allows every operation; Write implies Describe; AlterConfigs implies DescribeConfigs", () => {
  assert.equal(
    authorize([_acl({ operation: "All" })], _req({ operation: "Delete" }), _STRICT),
    true,
  );
  assert.equal(authorize([_acl({})], _req({ operation: "Describe" }), _STRICT), true);
  assert.equal(authorize([_acl({ operation: "Describe" })], _req({}), _STRICT), false);
  const alterConfigs = [_acl({ operation: "AlterConfigs" })];
  assert.equal(authorize(alterConfigs, _req({ operation: "DescribeConfigs" }), _STRICT), true);
  // Deny does not imply: denying Write leaves an allowed Describe allowed.
  const acls = [_acl({ operation: "Describe" }), _acl({ permission: "Deny" })];
  assert.equal(authorize(acls, _req({ operation: "Describe" }), _STRICT), true);
});

Deno.test("host must match unless the ACL says *", () => {
  const acls = [_acl({ host: "10.0.0.1" })];
  assert.equal(authorize(acls, _req({}), _STRICT), true);
  assert.equal(authorize(acls, _req({ host: "10.0.0.2" }), _STRICT), false);
});

Deno.test("super users pass; no ACL on a resource follows allow.everyone.if.no.acl.found", () => {
  assert.equal(
    authorize(
      [_acl({ permission: "Deny", operation: "All" })],
      _req({ principal: "User:admin" }),
      _STRICT,
    ),
    true,
  );
  assert.equal(authorize([], _req({}), _STRICT), false);
  const open = { superUsers: [], allowEveryoneIfNoAclFound: true };
  assert.equal(authorize([], _req({}), open), true);
  // An ACL naming the resource (for anyone) means the resource is governed by ACLs.
  assert.equal(authorize([_acl({ principal: "User:bob" })], _req({}), open), false);
});

Deno.test("authorizeAnyResource: one allowed topic is enough unless a deny covers it", () => {
  const any = (acls: AclBinding[], principal = "User:alice") =>
    authorizeAnyResource(acls, {
      principal,
      host: "10.0.0.1",
      resourceType: "Topic",
      operation: "Write",
    }, _STRICT);
  assert.equal(any([]), false);
  assert.equal(any([_acl({})]), true);
  assert.equal(any([_acl({ operation: "Read" })]), false);
  assert.equal(any([_acl({ resourceType: "Group" })]), false);
  assert.equal(any([_acl({})], "User:bob"), false);
  assert.equal(any([_acl({})], "User:admin"), true);
  assert.equal(any([_acl({ principal: "User:*", operation: "All" })]), true);
  assert.equal(any([_acl({}), _acl({ permission: "Deny" })]), false);
  assert.equal(any([_acl({}), _acl({ permission: "Deny", resourceName: "*" })]), false);
  assert.equal(
    any([_acl({}), _acl({ permission: "Deny", patternType: "PREFIXED", resourceName: "ord" })]),
    false,
  );
  // A deny elsewhere leaves the allowed topic allowed.
  assert.equal(any([_acl({}), _acl({ permission: "Deny", resourceName: "other" })]), true);
  assert.equal(
    any([_acl({}), _acl({ permission: "Deny", host: "10.0.0.2", resourceName: "*" })]),
    true,
  );
});
