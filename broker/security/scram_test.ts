import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import {
  createCredential,
  fromBase64,
  saltedPassword,
  type ScramCredential,
  ScramError,
  type ScramMechanism,
  ScramServer,
  toBase64,
  verifyPassword,
} from "./scram.ts";

const decoy = (): ScramCredential => ({
  salt: new Uint8Array(16),
  iterations: 4096,
  storedKey: new Uint8Array(32),
  serverKey: new Uint8Array(32),
});

Deno.test("ScramServer reproduces the RFC 7677 SCRAM-SHA-256 example exchange", async () => {
  const salt = fromBase64("W22ZaJ0SNY7soEsUEjb6gQ==");
  const cred = await createCredential("SCRAM-SHA-256", "pencil", salt, 4096);
  const server = new ScramServer("SCRAM-SHA-256", (u) => u === "user" ? cred : null, {
    nonce: () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    decoy,
  });
  assert.equal(
    server.step("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"),
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  );
  assert.equal(
    server.step(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
        "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    ),
    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
  );
  assert(server.done);
  assert.equal(server.user, "user");
});

/** A minimal RFC 5802 client, to drive the server with a chosen password. */
async function clientExchange(
  server: ScramServer,
  mechanism: ScramMechanism,
  user: string,
  password: string,
): Promise<string> {
  const alg = mechanism === "SCRAM-SHA-256" ? "sha256" : "sha512";
  const bare = `n=${user},r=clientnonce123`;
  const serverFirst = server.step(`n,,${bare}`);
  const attrs = new Map(serverFirst.split(",").map((p) => [p[0]!, p.slice(2)]));
  const salted = await saltedPassword(
    mechanism,
    password,
    fromBase64(attrs.get("s")!),
    Number(attrs.get("i")),
  );
  const clientKey = createHmac(alg, salted).update("Client Key").digest();
  const storedKey = createHash(alg).update(clientKey).digest();
  const withoutProof = `c=biws,r=${attrs.get("r")}`;
  const authMessage = `${bare},${serverFirst},${withoutProof}`;
  const sig = createHmac(alg, storedKey).update(authMessage).digest();
  const proof = new Uint8Array(clientKey.map((b, i) => b ^ sig[i]!));
  return server.step(`${withoutProof},p=${toBase64(proof)}`);
}

Deno.test("ScramServer SCRAM-SHA-512 accepts the right password and refuses a wrong one", async () => {
  const cred = await createCredential("SCRAM-SHA-512", "s3cret", new Uint8Array(16).fill(7), 4096);
  const lookup = (u: string) => u === "alice" ? cred : null;
  const opts = { nonce: () => "srv", decoy };
  const ok = new ScramServer("SCRAM-SHA-512", lookup, opts);
  assert((await clientExchange(ok, "SCRAM-SHA-512", "alice", "s3cret")).startsWith("v="));
  assert.equal(ok.user, "alice");

  const bad = new ScramServer("SCRAM-SHA-512", lookup, opts);
  await assert.rejects(() => clientExchange(bad, "SCRAM-SHA-512", "alice", "wrong"), ScramError);
  assert.equal(bad.user, null);
  // An unknown user fails the same way, at the proof, so user names cannot be probed.
  const unknown = new ScramServer("SCRAM-SHA-512", lookup, opts);
  await assert.rejects(
    () => clientExchange(unknown, "SCRAM-SHA-512", "mallory", "x"),
    /invalid username or password/,
  );
});

Deno.test("ScramServer refuses malformed and replayed messages with ScramError", () => {
  const opts = { nonce: () => "srv", decoy };
  for (const msg of ["", "garbage", "p=tls-unique,,n=u,r=x", "n,,r=x", "n,,n=u"]) {
    const s = new ScramServer("SCRAM-SHA-256", () => null, opts);
    assert.throws(() => s.step(msg), ScramError);
  }
  const s = new ScramServer("SCRAM-SHA-256", () => null, opts);
  s.step("n,,n=u,r=abc");
  assert.throws(() => s.step("c=biws,r=abcWRONG,p=AAAA"), /nonce mismatch/);
  assert.throws(() => s.step("n,,n=u,r=abc"), /already complete/);
});

Deno.test("verifyPassword checks a PLAIN password against a stored SCRAM credential", async () => {
  const cred = await createCredential("SCRAM-SHA-256", "pw", new Uint8Array(8), 4096);
  assert(await verifyPassword("SCRAM-SHA-256", "pw", cred));
  assert(!(await verifyPassword("SCRAM-SHA-256", "pW", cred)));
});
