import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { makeMtlsCertificates, opensslMissing } from "../../tests/support/mtls_certs.ts";
import { tempDir } from "../../tests/support/temp_dir.ts";
import {
  mapPrincipalName,
  parsePrincipalRules,
  PrincipalRuleError,
} from "../../config/principal_rules.ts";
import {
  CertificatePrincipalMapper,
  rfc2253Subject,
  subjectAltNames,
} from "./principal_mapping.ts";

Deno.test("mapPrincipalName applies Kafka's rules in order, whole-name matches only", () => {
  const rules = parsePrincipalRules([
    "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
    "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
    "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
    "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
    "DEFAULT",
  ]);
  // Kafka's documented examples (SslPrincipalMapperTest).
  assert.equal(
    mapPrincipalName("CN=kafka-server1,OU=ServiceUsers,O=Org,C=US", rules),
    "kafka-server1",
  );
  assert.equal(
    mapPrincipalName("CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Palo Alto,ST=CA,C=US", rules),
    "duke@javasoft",
  );
  assert.equal(mapPrincipalName("cn=duke,ou=javasoft,dc=sun,dc=com", rules), "DUKE@JAVASOFT");
  assert.equal(mapPrincipalName("OU=JavaSoft,O=Sun,CN=Kafka.Admin", rules), "kafka.admin");
  assert.equal(mapPrincipalName("OU=nobody", rules), "OU=nobody");
  // Without DEFAULT a name no rule matches maps to nothing: the listener refuses it.
  assert.equal(mapPrincipalName("OU=nobody", parsePrincipalRules(["RULE:^CN=(.*)$/$1/"])), null);
  // An escaped slash belongs to the pattern or the replacement.
  const slash = parsePrincipalRules([String.raw`RULE:^URI:spiffe:\/\/(.*)$/svc\/$1/`]);
  assert.equal(mapPrincipalName("URI:spiffe://pay", slash), "svc/pay");
});

Deno.test("parsePrincipalRules refuses malformed rules with the reason", () => {
  for (const bad of ["RULE:^CN=(.*)$/$1", "RULE:^CN=(.*)$/$1/X", "default", "RULE:(/$1/"]) {
    assert.throws(() => parsePrincipalRules([bad]), PrincipalRuleError, bad);
  }
  assert.throws(() => parsePrincipalRules([]), /empty/);
  assert.throws(() => parsePrincipalRules(["RULE:(/$1/"]), /not a valid regular expression/);
});

Deno.test({
  name: "CertificatePrincipalMapper reads RFC 2253 subjects and subject alternative names",
  ignore: opensslMissing(),
  async fn() {
    await using dir = await tempDir("rustmq-principal-");
    const certs = await makeMtlsCertificates(dir.path, {
      odd: { subject: "/C=US/O=Acme, Inc./OU=a+OU=b/CN=bob", san: "DNS:bob.acme,email:bob@acme" },
      plain: { subject: "/CN=carol" },
    });
    const odd = new X509Certificate(certs.clients.odd!.certPem);
    // Most specific RDN first, the comma escaped, the multi-valued RDN joined by "+".
    assert.equal(rfc2253Subject(odd), String.raw`CN=bob,OU=a+OU=b,O=Acme\, Inc.,C=US`);
    assert.deepEqual(subjectAltNames(odd), ["DNS:bob.acme", "email:bob@acme"]);
    const byEmail = new CertificatePrincipalMapper(["RULE:^email:(.*)@acme$/$1/U"], "san");
    assert.deepEqual(byEmail.principalOf(odd.raw), { principal: "User:BOB" });
    const plain = new X509Certificate(certs.clients.plain!.certPem).raw;
    assert.deepEqual(new CertificatePrincipalMapper(["DEFAULT"], "subject").principalOf(plain), {
      principal: "User:CN=carol",
    });
    // No SAN at all: nothing for a rule to apply to.
    assert.match(
      (byEmail.principalOf(plain) as { refused: string }).refused,
      /no security.ssl_principal_mapping_rules entry applies/,
    );
  },
});
