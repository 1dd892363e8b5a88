import assert from "node:assert/strict";
import { ClusterSecret, ClusterSecretError, loadClusterSecret } from "./cluster_secret.ts";

const SECRET = "0123456789abcdef0123456789abcdef";

Deno.test("ClusterSecret matches only the exact secret, whatever the length presented", () => {
  const s = ClusterSecret.fromText(`${SECRET}\n`);
  assert.equal(s.matches(SECRET), true);
  assert.equal(s.matches(`${SECRET}0`), false);
  assert.equal(s.matches(SECRET.slice(0, -1)), false);
  assert.equal(s.matches(""), false);
  assert.equal(s.matches(null), false);
  assert.equal(JSON.stringify({ s }), '{"s":"[cluster secret]"}');
});

Deno.test("ClusterSecret refuses short, non-printable and unreadable secrets with the reason", async () => {
  assert.throws(() => ClusterSecret.fromText("short"), ClusterSecretError);
  assert.throws(() => ClusterSecret.fromText("short"), /32 to 1024 bytes: current length is 5/);
  assert.throws(() => ClusterSecret.fromText(`${SECRET} x`), /printable ASCII/);
  await assert.rejects(
    loadClusterSecret("/nonexistent/rustmq.secret"),
    /Cannot read security.cluster_secret_file '\/nonexistent\/rustmq.secret'/,
  );
  assert.equal(await loadClusterSecret(""), null);
});
