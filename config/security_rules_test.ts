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
