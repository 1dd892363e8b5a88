/**
 * What the console tools share: connecting from `--bootstrap` and `--ca-cert`, and reading
 * options.
 *
 * @module
 */

import { CommandFailure, type OptionValues, stringOpt, UsageError } from "../../config/cli.ts";
import { RustMqClient } from "../client.ts";
import type { ClientOptions } from "../client.ts";
import { parseTransportUrl } from "../../protocol/transport/connect.ts";
import { ConnectionError } from "../../protocol/transport/errors.ts";
import type { SaslMechanism, SaslOptions } from "../sasl.ts";

/** The `--ca-cert` option spec shared by the tools. */
export const CA_CERT_OPTION = {
  type: "string",
  arg: "FILE",
  help: "CA certificate (PEM) for tls:// and quic://",
} as const;

/**
 * The SASL options shared by the tools. The password comes from `RUSTMQ_SASL_PASSWORD`, never
 * from the command line, where other users of the machine could read it.
 */
export const SASL_OPTIONS = {
  "sasl-mechanism": {
    type: "string",
    arg: "MECH",
    help:
      "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (password in RUSTMQ_SASL_PASSWORD)",
  },
  "sasl-username": { type: "string", arg: "USER", help: "SASL user name" },
} as const;

/** The client's `sasl` option from `--sasl-mechanism`, `--sasl-username` and the environment. */
export function saslFromOptions(values: OptionValues): { sasl?: SaslOptions } {
  const mechanism = stringOpt(values, "sasl-mechanism");
  const username = stringOpt(values, "sasl-username");
  if (mechanism === undefined && username === undefined) return {};
  if (mechanism === undefined || username === undefined) {
    throw new UsageError("--sasl-mechanism and --sasl-username go together");
  }
  if (!["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].includes(mechanism)) {
    throw new UsageError(
      `--sasl-mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512: current value is '${mechanism}'`,
    );
  }
  const password = Deno.env.get("RUSTMQ_SASL_PASSWORD");
  if (password === undefined) {
    throw new UsageError("--sasl-mechanism needs the password in RUSTMQ_SASL_PASSWORD");
  }
  return { sasl: { mechanism: mechanism as SaslMechanism, username, password } };
}

/** Reads `--bootstrap` (checked), `--ca-cert` and the SASL options, and connects. */
export async function connectFromOptions(
  values: OptionValues,
  extra: Partial<ClientOptions> = {},
): Promise<RustMqClient> {
  const url = bootstrapUrl(values);
  const caFile = stringOpt(values, "ca-cert");
  const caCerts = caFile === undefined ? undefined : [await Deno.readTextFile(caFile)];
  try {
    return await RustMqClient.connect({
      brokers: [url],
      clientId: "rustmq-cli",
      ...(caCerts === undefined ? {} : { tls: { caCerts } }),
      ...saslFromOptions(values),
      ...extra,
    });
  } catch (error) {
    if (error instanceof ConnectionError && error.untrustedCertificate) {
      const hint = caFile === undefined
        ? "pass the CA that signed it with --ca-cert FILE (PEM)"
        : `the CA in --ca-cert ${caFile} did not sign it; pass the right CA (PEM)`;
      throw new CommandFailure(
        `${url}: the server's TLS certificate is not trusted; ${hint}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** `--bootstrap`, with its scheme replaced by `--transport` when that is given. */
export function bootstrapUrl(values: OptionValues): string {
  const url = stringOpt(values, "bootstrap") ?? "tcp://127.0.0.1:9092";
  try {
    parseTransportUrl(url);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const transport = stringOpt(values, "transport");
  if (transport === undefined) return url;
  if (transport !== "tcp" && transport !== "quic" && transport !== "tls") {
    throw new UsageError(`--transport must be tcp, tls or quic: current value is '${transport}'`);
  }
  return url.replace(/^[a-z]+:/, `${transport}:`);
}

/** Reads a required string option. */
export function requiredOpt(values: OptionValues, name: string): string {
  const value = stringOpt(values, name);
  if (value === undefined || value === "") throw new UsageError(`--${name} is required`);
  return value;
}

/** One-line description of an error for stderr. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${typeof code === "string" ? `${code}: ` : ""}${error.message}`;
  }
  return String(error);
}
