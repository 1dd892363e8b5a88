/**
 * Cross-key checks of the `[security]` section: the listener protocol against the TLS keys, SASL
 * over plaintext only with an explicit opt-in, and well-formed mechanisms and principals.
 *
 * @module
 */

import { parsePrincipalRules, PrincipalRuleError } from "./principal_rules.ts";
import type { ConfigProblem } from "./config_problem.ts";
import type { BrokerConfig } from "./schema.ts";

/** The Kafka listener protocols (Kafka's `security.protocol`). */
export type ListenerProtocol = "PLAINTEXT" | "SSL" | "SASL_PLAINTEXT" | "SASL_SSL";

/** The SASL mechanisms RustMQ implements. */
export const SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const;

/** The Kafka listener's protocol: the configured one, or derived from `network.tls_cert_path`. */
export function listenerProtocol(cfg: BrokerConfig): ListenerProtocol {
  const p = cfg.security.kafka_listener_protocol;
  if (p !== "") return p as ListenerProtocol;
  return cfg.network.tls_cert_path === "" ? "PLAINTEXT" : "SSL";
}

/** Problems in `[security]`, in the form {@linkcode brokerContradictions} reports them. */
export function securityContradictions(cfg: BrokerConfig, file: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const add = (key: string, value: unknown, reason: string) =>
    out.push({ file, key, value: JSON.stringify(value), reason });
  const sec = cfg.security;
  const protocol = sec.kafka_listener_protocol;
  const tls = cfg.network.tls_cert_path !== "";
  if ((protocol === "SSL" || protocol === "SASL_SSL") && !tls) {
    add(
      "security.kafka_listener_protocol",
      protocol,
      "needs network.tls_cert_path and network.tls_key_path (the listener's certificate)",
    );
  }
  if ((protocol === "PLAINTEXT" || protocol === "SASL_PLAINTEXT") && tls) {
    add(
      "security.kafka_listener_protocol",
      protocol,
      "contradicts network.tls_cert_path, which turns TLS on: use SSL or SASL_SSL, or clear it",
    );
  }
  if (protocol === "SASL_PLAINTEXT" && !sec.allow_sasl_plaintext) {
    add(
      "security.kafka_listener_protocol",
      protocol,
      "sends credentials unencrypted: use SASL_SSL, or set security.allow_sasl_plaintext = true",
    );
  }
  if (sec.allow_sasl_plaintext && protocol !== "SASL_PLAINTEXT") {
    add(
      "security.allow_sasl_plaintext",
      true,
      "only applies to kafka_listener_protocol = SASL_PLAINTEXT",
    );
  }
  const known = new Set<string>(SASL_MECHANISMS);
  for (const m of sec.sasl_enabled_mechanisms) {
    if (!known.has(m)) {
      add("security.sasl_enabled_mechanisms", m, `is not one of ${SASL_MECHANISMS.join(", ")}`);
    }
  }
  if (protocol.startsWith("SASL_") && sec.sasl_enabled_mechanisms.length === 0) {
    add("security.sasl_enabled_mechanisms", [], "cannot be empty on a SASL listener");
  }
  for (const p of sec.super_users) {
    if (!/^User:.+/.test(p)) add("security.super_users", p, "expected a principal User:<name>");
  }
  if (sec.auth_failure_delay_max_ms < sec.auth_failure_delay_ms) {
    add(
      "security.auth_failure_delay_max_ms",
      sec.auth_failure_delay_max_ms,
      `cannot be below security.auth_failure_delay_ms (${sec.auth_failure_delay_ms})`,
    );
  }
  if (sec.allow_everyone_if_no_acl_found && !sec.authorizer_enabled) {
    add(
      "security.allow_everyone_if_no_acl_found",
      true,
      "only applies with security.authorizer_enabled = true (without it everyone is allowed)",
    );
  }
  if (sec.super_users.length > 0 && !sec.authorizer_enabled) {
    add(
      "security.super_users",
      sec.super_users,
      "only applies with security.authorizer_enabled = true (without it everyone is allowed)",
    );
  }
  out.push(...clientAuthContradictions(cfg, file));
  return out;
}

/** Problems in the mutual-TLS keys: each one needs the others, and TLS, to mean anything. */
export function clientAuthContradictions(cfg: BrokerConfig, file: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const add = (key: string, value: unknown, reason: string) =>
    out.push({ file, key, value: JSON.stringify(value), reason });
  const sec = cfg.security;
  const protocol = listenerProtocol(cfg);
  const mode = sec.ssl_client_auth;
  const on = mode !== "none";
  if (on && protocol !== "SSL" && protocol !== "SASL_SSL") {
    add(
      "security.ssl_client_auth",
      mode,
      `needs a TLS listener (SSL or SASL_SSL), not ${protocol}`,
    );
  }
  if (on && sec.ssl_client_ca_path === "") {
    add("security.ssl_client_auth", mode, "needs security.ssl_client_ca_path (the clients' CA)");
  }
  if (!on && sec.ssl_client_ca_path !== "") {
    add("security.ssl_client_ca_path", sec.ssl_client_ca_path, "only applies with ssl_client_auth");
  }
  const rules = sec.ssl_principal_mapping_rules;
  const customMapping = rules.length !== 1 || rules[0] !== "DEFAULT" ||
    sec.ssl_principal_source !== "subject";
  // On SASL_SSL the principal comes from SASL, as in Kafka, so rules would do nothing there.
  if (customMapping && (!on || protocol !== "SSL")) {
    add(
      "security.ssl_principal_mapping_rules",
      rules,
      "only applies with ssl_client_auth on an SSL listener (on SASL_SSL the principal is the SASL user)",
    );
  }
  try {
    parsePrincipalRules(rules);
  } catch (error) {
    if (!(error instanceof PrincipalRuleError)) throw error;
    add("security.ssl_principal_mapping_rules", rules, error.message);
  }
  return out;
}
