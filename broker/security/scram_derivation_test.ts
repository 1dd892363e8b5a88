import assert from "node:assert/strict";
import { deriveScramCredential } from "../../model/scram_derivation.ts";
import { createCredential, toBase64, verifyPassword } from "./scram.ts";
import { ClusterSecurityDirectory } from "./cluster_security_directory.ts";

Deno.test("deriveScramCredential stores what the broker's SCRAM verifies", async () => {
  const salt = crypto.getRandomValues(new Uint8Array(24));
  for (const m of ["SCRAM-SHA-256", "SCRAM-SHA-512"] as const) {
    const model = await deriveScramCredential(m, "s3cret-ü", salt, 4096);
    const broker = await createCredential(m, "s3cret-ü", salt, 4096);
    assert.deepEqual(model, {
      salt: toBase64(broker.salt),
      iterations: 4096,
      storedKey: toBase64(broker.storedKey),
      serverKey: toBase64(broker.serverKey),
    });
    const dir = new ClusterSecurityDirectory({
      users: () => ({ bob: { [m]: model } }),
      acls: () => [],
      propose: () => Promise.reject(new Error("unused")),
    });
    assert.equal(await verifyPassword(m, "s3cret-ü", dir.credential("bob", m)!), true);
    assert.equal(await verifyPassword(m, "s3cret-u", dir.credential("bob", m)!), false);
  }
  await assert.rejects(deriveScramCredential("SCRAM-SHA-256", "p", salt, 100), /iterations/);
});
