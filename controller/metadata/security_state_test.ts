import assert from "node:assert/strict";
import { MetadataStateMachine } from "./state_machine.ts";
import type { MetadataCommand } from "./commands.ts";
import { commandProblem } from "./commands.ts";
import type { AclBinding } from "../../model/security_metadata.ts";

const cred = { salt: "c2FsdA==", iterations: 4096, storedKey: "c3Rvcg==", serverKey: "c2Vydg==" };

const acl = (over: Partial<AclBinding> = {}): AclBinding => ({
  resourceType: "Topic",
  resourceName: "orders",
  patternType: "LITERAL",
  principal: "User:alice",
  host: "*",
  operation: "Read",
  permission: "Allow",
  ...over,
});

function apply(sm: MetadataStateMachine, index: number, cmd: MetadataCommand) {
  assert.equal(commandProblem(cmd), null);
  return sm.apply(index, cmd);
}

Deno.test("MetadataStateMachine keeps SCRAM credentials per mechanism and deletes them", () => {
  const sm = new MetadataStateMachine();
  const up = (i: number, mechanism: "SCRAM-SHA-256" | "SCRAM-SHA-512") =>
    apply(sm, i, {
      v: 1,
      op: "upsert_scram_credential",
      user: "alice",
      mechanism,
      credential: cred,
    });
  const r1 = up(1, "SCRAM-SHA-256");
  assert.equal(r1.result.ok, true);
  assert.deepEqual(r1.delta?.security?.users, { alice: { "SCRAM-SHA-256": cred } });
  up(2, "SCRAM-SHA-512");
  assert.deepEqual(Object.keys(sm.users().alice!).sort(), ["SCRAM-SHA-256", "SCRAM-SHA-512"]);

  const bad = apply(sm, 3, {
    v: 1,
    op: "upsert_scram_credential",
    user: "bob",
    mechanism: "SCRAM-SHA-1" as "SCRAM-SHA-256",
    credential: cred,
  });
  assert.equal(bad.result.ok, false);
  assert.equal(bad.delta, null);
  assert.equal(sm.users().bob, undefined);
  const noKeys = apply(sm, 4, {
    v: 1,
    op: "upsert_scram_credential",
    user: "bob",
    mechanism: "SCRAM-SHA-256",
    credential: { ...cred, storedKey: "" },
  });
  assert.equal(noKeys.result.ok, false);

  const d1 = apply(sm, 5, {
    v: 1,
    op: "delete_scram_credentials",
    user: "alice",
    mechanism: "SCRAM-SHA-256",
  });
  assert.deepEqual(d1.result, { ok: true, value: { user: "alice", removed: ["SCRAM-SHA-256"] } });
  const all = apply(sm, 6, {
    v: 1,
    op: "delete_scram_credentials",
    user: "alice",
    mechanism: null,
  });
  assert.equal(all.result.ok, true);
  assert.deepEqual(sm.users(), {});
  const again = apply(sm, 7, {
    v: 1,
    op: "delete_scram_credentials",
    user: "alice",
    mechanism: null,
  });
  assert.equal(again.result.ok ? "" : again.result.error.code, "NOT_FOUND");
});

Deno.test("MetadataStateMachine adds ACLs once, refuses a bad batch whole, deletes by filter", () => {
  const sm = new MetadataStateMachine();
  const r = apply(sm, 1, {
    v: 1,
    op: "create_acls",
    acls: [
      acl(),
      acl(),
      acl({ operation: "Write" }),
      acl({ resourceName: "o", patternType: "PREFIXED" }),
    ],
  });
  assert.deepEqual(r.result, { ok: true, value: { created: 3 } });
  assert.equal(r.delta?.security?.acls.length, 3);
  assert.deepEqual(apply(sm, 2, { v: 1, op: "create_acls", acls: [acl()] }).result, {
    ok: true,
    value: { created: 0 },
  });

  const bad = apply(sm, 3, {
    v: 1,
    op: "create_acls",
    acls: [acl({ resourceName: "x" }), acl({ principal: "alice" })],
  });
  assert.equal(bad.result.ok, false);
  assert.equal(sm.acls().length, 3, "a refused batch adds nothing");

  const del = apply(sm, 4, {
    v: 1,
    op: "delete_acls",
    filters: [{ patternType: "MATCH", resourceName: "orders", operation: "Read" }],
  });
  assert.equal(del.result.ok, true);
  const removed = (del.result as { value: { removed: AclBinding[][] } }).value.removed;
  // MATCH takes every ACL that applies to "orders": the literal one and the "o" prefix.
  assert.deepEqual(removed[0]!.map((a) => a.patternType), ["LITERAL", "PREFIXED"]);
  assert.deepEqual(sm.acls().map((a) => a.operation), ["Write"]);
  const none = apply(sm, 5, { v: 1, op: "delete_acls", filters: [{ principal: "User:zed" }] });
  assert.equal(none.delta, null);
  const badFilter = apply(sm, 6, {
    v: 1,
    op: "delete_acls",
    filters: [{ operation: "Fly" as "Read" }],
  });
  assert.equal(badFilter.result.ok, false);
});

Deno.test("MetadataStateMachine snapshots users and ACLs, and restores older snapshots empty", () => {
  const sm = new MetadataStateMachine();
  apply(sm, 1, { v: 1, op: "create_acls", acls: [acl()] });
  apply(sm, 2, {
    v: 1,
    op: "upsert_scram_credential",
    user: "alice",
    mechanism: "SCRAM-SHA-512",
    credential: cred,
  });
  const copy = new MetadataStateMachine();
  copy.restore(2, sm.snapshot());
  assert.deepEqual(copy.acls(), [acl()]);
  assert.deepEqual(copy.users(), { alice: { "SCRAM-SHA-512": cred } });

  const old = JSON.parse(sm.snapshot());
  delete old.users;
  delete old.acls;
  const restored = new MetadataStateMachine();
  restored.restore(2, JSON.stringify(old));
  assert.deepEqual(restored.acls(), []);
  assert.deepEqual(restored.users(), {});
});
