import assert from "node:assert/strict";
import { ClusterSecurityDirectory } from "./cluster_security_directory.ts";
import { MetadataStateMachine } from "../../controller/metadata/state_machine.ts";
import { fromWireError } from "../../controller/metadata/errors.ts";
import type { MetadataCommand } from "../../controller/metadata/commands.ts";
import { createCredential, verifyPassword } from "./scram.ts";

/** A directory over a real state machine, applying each proposal as the next log entry. */
function directory() {
  const sm = new MetadataStateMachine();
  let index = 0;
  const proposed: string[] = [];
  const dir = new ClusterSecurityDirectory({
    users: () => sm.users(),
    acls: () => sm.acls(),
    propose: (cmd) => {
      proposed.push(String(cmd.op));
      const { result } = sm.apply(++index, cmd as unknown as MetadataCommand);
      return result.ok
        ? Promise.resolve(result.value)
        : Promise.reject(fromWireError(result.error));
    },
  });
  return { sm, dir, proposed };
}

Deno.test("ClusterSecurityDirectory writes credentials through the metadata and reads them back", async () => {
  const { sm, dir, proposed } = directory();
  const salt = new Uint8Array([1, 2, 3, 4]);
  await dir.upsertCredential(
    "alice",
    "SCRAM-SHA-512",
    await createCredential("SCRAM-SHA-512", "pw", salt, 4096),
  );
  assert.deepEqual(proposed, ["upsert_scram_credential"]);
  assert.doesNotMatch(sm.snapshot(), /"pw"/);
  const cred = dir.credential("alice", "SCRAM-SHA-512");
  assert.ok(cred !== null);
  assert.equal(await verifyPassword("SCRAM-SHA-512", "pw", cred), true);
  assert.equal(await verifyPassword("SCRAM-SHA-512", "nope", cred), false);
  assert.equal(dir.credential("alice", "SCRAM-SHA-256"), null);
  assert.equal(dir.credential("__proto__", "SCRAM-SHA-256"), null);
  assert.deepEqual(dir.users(), [{
    user: "alice",
    credentials: [{ mechanism: "SCRAM-SHA-512", iterations: 4096 }],
  }]);
  assert.equal(await dir.deleteCredential("alice", "SCRAM-SHA-256"), false);
  assert.equal(await dir.deleteCredential("alice", "SCRAM-SHA-512"), true);
  assert.equal(dir.credential("alice", "SCRAM-SHA-512"), null);
});

Deno.test("ClusterSecurityDirectory adds, matches and deletes ACLs through the metadata", async () => {
  const { dir } = directory();
  const acl = {
    resourceType: "Topic",
    resourceName: "orders",
    patternType: "LITERAL",
    principal: "User:alice",
    host: "*",
    operation: "Write",
    permission: "Allow",
  } as const;
  await dir.addAcls([acl, { ...acl, operation: "Read" }]);
  assert.equal(dir.acls.length, 2);
  assert.deepEqual(dir.matchAcls({ operation: "Read" }).map((a) => a.operation), ["Read"]);
  await assert.rejects(dir.addAcls([{ ...acl, principal: "alice" }]), /User:/);
  const removed = await dir.deleteAcls({ principal: "User:alice", operation: "Write" });
  assert.equal(removed.length, 1);
  assert.deepEqual(dir.acls.map((a) => a.operation), ["Read"]);
});
