import assert from "node:assert/strict";
import {
  internalTlsContradiction,
  InternalTlsError,
  loadAdminTls,
  loadInternalTls,
} from "./internal_tls.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const off = { internal_tls_cert_path: "", internal_tls_key_path: "", internal_tls_ca_path: "" };

Deno.test("internal TLS is off with all three keys empty and refused with one or two", async () => {
  assert.equal(internalTlsContradiction(off), null);
  assert.equal(await loadInternalTls(off), null);
  const half = { ...off, internal_tls_cert_path: "a.pem", internal_tls_ca_path: "ca.pem" };
  assert.match(internalTlsContradiction(half)!, /set security\.internal_tls_key_path too/);
  await assert.rejects(loadInternalTls(half), InternalTlsError);
});

Deno.test("internal TLS reads the three PEM files and names a missing or non-PEM one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rustmq-itls-unit-" });
  try {
    for (const f of ["c.pem", "k.pem", "ca.pem"]) await Deno.writeTextFile(`${dir}/${f}`, PEM);
    await Deno.writeTextFile(`${dir}/junk.txt`, "not a certificate");
    const keys = {
      internal_tls_cert_path: `${dir}/c.pem`,
      internal_tls_key_path: `${dir}/k.pem`,
      internal_tls_ca_path: `${dir}/ca.pem`,
    };
    const tls = await loadInternalTls(keys);
    assert.deepEqual(tls, { certPem: PEM, keyPem: PEM, caPem: PEM });
    await assert.rejects(
      loadInternalTls({ ...keys, internal_tls_ca_path: `${dir}/missing.pem` }),
      /Cannot read security\.internal_tls_ca_path/,
    );
    await assert.rejects(
      loadInternalTls({ ...keys, internal_tls_key_path: `${dir}/junk.txt` }),
      /internal_tls_key_path .* holds no PEM block/,
    );
    assert.deepEqual(
      await loadAdminTls({
        admin_tls_cert_path: `${dir}/c.pem`,
        admin_tls_key_path: `${dir}/k.pem`,
      }),
      { cert: PEM, key: PEM },
    );
    await assert.rejects(
      loadAdminTls({ admin_tls_cert_path: `${dir}/c.pem`, admin_tls_key_path: "" }),
      /needs both/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
