import assert from "node:assert/strict";
import { loadBrokerConfig } from "./load.ts";
import { ConfigError } from "./config_problem.ts";
import { listenerProtocol } from "./security_rules.ts";

const load = (text: string) => loadBrokerConfig("b.toml", { text, env: {} });

function problems(text: string): string[] {
  try {
    load(text);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.key}: ${p.reason}`);
  }
}

const TLS = '[network]\ntls_cert_path = "c.pem"\ntls_key_path = "k.pem"\n';

Deno.test("security config derives the listener protocol from the TLS keys when unset", () => {
  assert.equal(listenerProtocol(load("")), "PLAINTEXT");
  assert.equal(listenerProtocol(load(TLS)), "SSL");
  assert.equal(
    listenerProtocol(load(`${TLS}[security]\nkafka_listener_protocol = "SASL_SSL"\n`)),
    "SASL_SSL",
  );
});

Deno.test("security config refuses contradictions with a reason", () => {
  assert.match(
    problems('[security]\nkafka_listener_protocol = "SASL_SSL"\n').join(),
    /needs network.tls_cert_path/,
  );
  assert.match(
    problems('[security]\nkafka_listener_protocol = "SASL_PLAINTEXT"\n').join(),
    /unencrypted: use SASL_SSL, or set security.allow_sasl_plaintext/,
  );
  assert.deepEqual(
    problems(
      '[security]\nkafka_listener_protocol = "SASL_PLAINTEXT"\nallow_sasl_plaintext = true\n',
    ),
    [],
  );
  assert.match(
    problems(`${TLS}[security]\nkafka_listener_protocol = "PLAINTEXT"\n`).join(),
    /contradicts network.tls_cert_path/,
  );
  assert.match(
    problems('[security]\nsasl_enabled_mechanisms = ["GSSAPI"]\n').join(),
    /GSSAPI.*is not one of|is not one of PLAIN/,
  );
  assert.match(problems('[security]\nsuper_users = ["User:admin"]\n').join(), /only applies/);
  assert.match(
    problems('[security]\nauthorizer_enabled = true\nsuper_users = ["admin"]\n').join(),
    /expected a principal User:<name>/,
  );
  assert.match(
    problems("[security]\nauth_failure_delay_ms = 500\nauth_failure_delay_max_ms = 100\n").join(),
    /cannot be below/,
  );
  assert.match(problems("[security]\nallow_sasl_plaintext = true\n").join(), /only applies/);
});

Deno.test("security config refuses mutual-TLS contradictions with a reason", () => {
  const mtls = (extra: string) =>
    problems(
      `${TLS}[security]\nssl_client_auth = "required"\nssl_client_ca_path = "ca.pem"\n${extra}`,
    );
  assert.deepEqual(mtls(""), []);
  assert.deepEqual(
    mtls(`ssl_principal_mapping_rules = ['RULE:^CN=(.*?),.*$/$1/L', "DEFAULT"]\n`),
    [],
  );
  assert.deepEqual(mtls('ssl_principal_source = "san"\n'), []);
  assert.match(
    problems('[security]\nssl_client_auth = "required"\nssl_client_ca_path = "ca.pem"\n').join(),
    /ssl_client_auth: needs a TLS listener \(SSL or SASL_SSL\), not PLAINTEXT/,
  );
  assert.match(
    problems(`${TLS}[security]\nssl_client_auth = "requested"\n`).join(),
    /needs security.ssl_client_ca_path/,
  );
  assert.match(
    problems(`${TLS}[security]\nssl_client_ca_path = "ca.pem"\n`).join(),
    /only applies/,
  );
  assert.match(
    problems(`${TLS}[security]\nssl_principal_source = "san"\n`).join(),
    /ssl_principal_mapping_rules: only applies with ssl_client_auth/,
  );
  assert.match(
    mtls("ssl_principal_mapping_rules = ['RULE:^CN=(.*)$/$1']\n").join(),
    /neither DEFAULT/,
  );
  assert.match(mtls("ssl_principal_mapping_rules = []\n").join(), /the list is empty/);
  assert.match(
    problems(`${TLS}[security]\nssl_client_auth = "always"\n`).join(),
    /ssl_client_auth: .*required/,
  );
  // On SASL_SSL the SASL user is the principal, so mapping rules would be inert.
  assert.match(
    mtls('kafka_listener_protocol = "SASL_SSL"\nssl_principal_source = "san"\n').join(),
    /on SASL_SSL the principal is the SASL user/,
  );
  assert.deepEqual(mtls('kafka_listener_protocol = "SASL_SSL"\n'), []);
});
