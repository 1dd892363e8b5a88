/**
 * Users (SCRAM credentials) and ACLs in the admin REST API, mounted by
 * {@linkcode mountAdminApi} under `/api/v1`. Writes are proposed to the Raft leader and answer
 * once committed; every broker of the cluster then authenticates and authorizes from them.
 *
 * | method | path | does |
 * |---|---|---|
 * | GET | /users | user names with their mechanisms and iterations (never keys) |
 * | POST | /users | `{name, mechanism, password, iterations?}`: create or replace a credential (201) |
 * | DELETE | /users/:name | delete every credential of the user (`?mechanism=` just one) |
 * | GET | /acls | ACLs, filtered by any of the query parameters below |
 * | POST | /acls | one ACL, or `{acls: [...]}`, in the fields below (201) |
 * | DELETE | /acls | remove the ACLs the query filter matches (at least one parameter) |
 *
 * ACL fields (JSON body or query): `resource_type` (Topic, Group, Cluster, TransactionalId),
 * `resource_name`, `pattern_type` (LITERAL, PREFIXED; a filter may also say MATCH),
 * `principal` (`User:<name>`), `host` (default `*`), `operation` (Read, Write, ..., All),
 * `permission` (Allow, Deny; default Allow). Enum values are matched case-insensitively.
 *
 * The password is used once to derive the salted keys and is neither stored nor logged.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import type { ControllerNode } from "./controller_node.ts";
import { MetadataError } from "./metadata/errors.ts";
import {
  ACL_OPERATIONS,
  type AclBinding,
  aclBindingProblem,
  type AclFilter,
  aclFilterProblem,
  aclMatches,
  PATTERN_TYPES,
  RESOURCE_TYPES,
  SCRAM_MECHANISM_NAMES,
  userNameProblem,
} from "../model/security_metadata.ts";
import {
  deriveScramCredential,
  SCRAM_DERIVE_ITERATIONS_DEFAULT,
} from "../model/scram_derivation.ts";

/** Longest password accepted, in characters. */
const PASSWORD_CHARS_MAX = 1024;
/** ACLs one POST may create. */
const ACLS_PER_REQUEST_MAX = 1000;

/** Options of {@linkcode mountSecurityApi}. */
export interface SecurityApiOptions {
  /**
   * When set, the routes answer 409 with this reason instead: standalone keeps users and ACLs
   * in its broker's own file, which this API does not reach.
   */
  readonly refusal?: string;
  /** Reads the request's JSON body (the admin API's size-limited reader). */
  readonly body: (c: Context) => Promise<Record<string, unknown>>;
}

/** An ACL as the API shows it. */
export function aclJson(a: AclBinding): Record<string, string> {
  return {
    resource_type: a.resourceType,
    resource_name: a.resourceName,
    pattern_type: a.patternType,
    principal: a.principal,
    host: a.host,
    operation: a.operation,
    permission: a.permission,
  };
}

/** Mounts `/users` and `/acls` on `api` (the `/api/v1` app, with its auth and errors). */
export function mountSecurityApi(api: Hono, node: ControllerNode, options: SecurityApiOptions) {
  if (options.refusal !== undefined) {
    const reason = options.refusal;
    for (const path of ["/users", "/users/*", "/acls"]) {
      api.all(path, () => {
        throw new MetadataError("CONFLICT", reason);
      });
    }
    return;
  }
  api.get("/users", async (c) => {
    await node.linearizableRead();
    const users = Object.entries(node.sm.users()).map(([name, creds]) => ({
      name,
      mechanisms: Object.entries(creds).map(([mechanism, cred]) => ({
        mechanism,
        iterations: cred!.iterations,
      })),
    }));
    return c.json({ users });
  });
  api.post("/users", async (c) => {
    const body = await options.body(c);
    const { name, mechanism, password, iterations } = _userBody(body);
    const salt = crypto.getRandomValues(new Uint8Array(24));
    const credential = await deriveScramCredential(mechanism, password, salt, iterations);
    await node.execute(
      { v: 1, op: "upsert_scram_credential", user: name, mechanism, credential },
      _key(c),
    );
    return c.json({ name, mechanism, iterations }, 201);
  });
  api.delete("/users/:name", async (c) => {
    const raw = c.req.query("mechanism");
    const mechanism = raw === undefined ? null : _enum(raw, SCRAM_MECHANISM_NAMES, "mechanism");
    const r = await node.execute(
      { v: 1, op: "delete_scram_credentials", user: c.req.param("name"), mechanism },
      _key(c),
    );
    const { removed } = r.value as { removed: string[] };
    return c.json({ name: c.req.param("name"), removed });
  });
  _mountAcls(api, node, options);
}

function _mountAcls(api: Hono, node: ControllerNode, options: SecurityApiOptions): void {
  api.get("/acls", async (c) => {
    const filter = _filter(c);
    await node.linearizableRead();
    return c.json({ acls: node.sm.acls().filter((a) => aclMatches(a, filter)).map(aclJson) });
  });
  api.post("/acls", async (c) => {
    const body = await options.body(c);
    const list = Array.isArray(body.acls) ? body.acls as unknown[] : [body];
    if (list.length === 0 || list.length > ACLS_PER_REQUEST_MAX) {
      throw new MetadataError(
        "BAD_REQUEST",
        `Cannot create ACLs as a request holds 1 to ${ACLS_PER_REQUEST_MAX}: current count is ${list.length}`,
      );
    }
    const acls = list.map(_binding);
    const r = await node.execute({ v: 1, op: "create_acls", acls }, _key(c));
    return c.json({ ...(r.value as { created: number }), acls: acls.map(aclJson) }, 201);
  });
  api.delete("/acls", async (c) => {
    const filter = _filter(c);
    if (Object.keys(filter).length === 0) {
      throw new MetadataError(
        "BAD_REQUEST",
        "Cannot delete ACLs without a filter: give at least one of resource_type, resource_name, pattern_type, principal, host, operation, permission",
      );
    }
    const r = await node.execute({ v: 1, op: "delete_acls", filters: [filter] }, _key(c));
    const { removed } = r.value as { removed: AclBinding[][] };
    return c.json({ removed: (removed[0] ?? []).map(aclJson) });
  });
}

function _userBody(body: Record<string, unknown>) {
  const name = body.name;
  const nameProblem = userNameProblem(name);
  if (nameProblem !== null) throw new MetadataError("BAD_REQUEST", `Field 'name': ${nameProblem}`);
  const mechanism = _enum(body.mechanism ?? "SCRAM-SHA-512", SCRAM_MECHANISM_NAMES, "mechanism");
  const password = body.password;
  if (typeof password !== "string" || password === "" || password.length > PASSWORD_CHARS_MAX) {
    throw new MetadataError(
      "BAD_REQUEST",
      `Field 'password' must be 1 to ${PASSWORD_CHARS_MAX} characters`,
    );
  }
  const iterations = body.iterations ?? SCRAM_DERIVE_ITERATIONS_DEFAULT;
  if (typeof iterations !== "number") {
    throw new MetadataError("BAD_REQUEST", "Field 'iterations' must be a number");
  }
  if (!Number.isInteger(iterations) || iterations < 4096 || iterations > 16384) {
    throw new MetadataError(
      "BAD_REQUEST",
      `Field 'iterations' must be an integer from 4096 to 16384: current value is ${iterations}`,
    );
  }
  return { name: name as string, mechanism, password, iterations };
}

/** `raw` as one of `values`, ignoring case; a 400 naming `field` otherwise. */
function _enum<T extends string>(raw: unknown, values: readonly T[], field: string): T {
  const found = values.find((v) =>
    typeof raw === "string" && v.toLowerCase() === raw.toLowerCase()
  );
  if (found === undefined) {
    throw new MetadataError(
      "BAD_REQUEST",
      `Field '${field}' must be one of ${values.join(", ")}: current value is ${String(raw)}`,
    );
  }
  return found;
}

function _binding(raw: unknown): AclBinding {
  if (typeof raw !== "object" || raw === null) {
    throw new MetadataError("BAD_REQUEST", "Each ACL must be a JSON object");
  }
  const b = raw as Record<string, unknown>;
  const acl = {
    resourceType: _enum(b.resource_type, RESOURCE_TYPES, "resource_type"),
    resourceName: b.resource_name as string,
    patternType: _enum(b.pattern_type ?? "LITERAL", PATTERN_TYPES, "pattern_type"),
    principal: b.principal as string,
    host: (b.host ?? "*") as string,
    operation: _enum(b.operation, ACL_OPERATIONS, "operation"),
    permission: _enum(b.permission ?? "Allow", ["Allow", "Deny"] as const, "permission"),
  };
  const problem = aclBindingProblem(acl);
  if (problem !== null) throw new MetadataError("BAD_REQUEST", `Cannot create the ACL: ${problem}`);
  return acl;
}

function _filter(c: Context): AclFilter {
  const q = (k: string) => c.req.query(k);
  const f: { -readonly [K in keyof AclFilter]: AclFilter[K] } = {};
  if (q("resource_type") !== undefined) {
    f.resourceType = _enum(q("resource_type"), RESOURCE_TYPES, "resource_type");
  }
  if (q("pattern_type") !== undefined) {
    f.patternType = _enum(q("pattern_type"), [...PATTERN_TYPES, "MATCH"] as const, "pattern_type");
  }
  if (q("operation") !== undefined) {
    f.operation = _enum(q("operation"), ACL_OPERATIONS, "operation");
  }
  if (q("permission") !== undefined) {
    f.permission = _enum(q("permission"), ["Allow", "Deny"] as const, "permission");
  }
  for (
    const [k, field] of [["resource_name", "resourceName"], ["principal", "principal"], [
      "host",
      "host",
    ]] as const
  ) {
    const v = q(k);
    if (v !== undefined) f[field] = v;
  }
  const problem = aclFilterProblem(f);
  if (problem !== null) throw new MetadataError("BAD_REQUEST", problem);
  return f;
}

function _key(c: Context): { requestKey?: string } {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return {};
  if (key.length === 0 || key.length > 100) {
    throw new MetadataError("BAD_REQUEST", "Header 'Idempotency-Key' must be 1..100 characters");
  }
  return { requestKey: `http:${key}` };
}
