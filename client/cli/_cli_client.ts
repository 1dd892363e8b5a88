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

/** The `--ca-cert` option spec shared by the tools. */
export const CA_CERT_OPTION = {
  type: "string",
  arg: "FILE",
  help: "CA certificate (PEM) for tls:// and quic://",
} as const;

/** Reads `--bootstrap` (checked) and `--ca-cert` and connects. */
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
