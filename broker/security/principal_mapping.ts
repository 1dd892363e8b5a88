/**
 * Turns a verified client certificate into a principal name, the way Kafka's
 * `ssl.principal.mapping.rules` does (config/principal_rules.ts): the subject is written as an
 * RFC 2253 distinguished name (`CN=alice,OU=eng,O=Acme`, most specific RDN first), and the rules
 * are tried in order. The first rule that applies gives the principal, and when none does the
 * connection is refused.
 *
 * With `source = "san"` the same rules are tried against each subject alternative name, written
 * `DNS:host`, `email:addr`, `URI:uri` or `IP Address:ip`, rules first, then names in certificate
 * order. Kafka itself maps only the subject; the SAN source is for certificates (SPIFFE, service
 * meshes) whose identity lives in a SAN.
 *
 * @module
 */

import { X509Certificate } from "node:crypto";
import {
  mapPrincipalName,
  parsePrincipalRules,
  type PrincipalRule,
} from "../../config/principal_rules.ts";

/** Where a certificate's name is taken from. */
export type PrincipalSource = "subject" | "san";

/**
 * The subject of a DER or PEM certificate as an RFC 2253 name: RDNs from last to first, joined by
 * commas, values escaped, multi-valued RDNs joined by `+`. Attribute names are OpenSSL's short
 * names (Java writes unknown ones, such as emailAddress, as OIDs).
 */
export function rfc2253Subject(cert: X509Certificate): string {
  // Node writes the subject one RDN per line, in certificate (ASN.1) order.
  return cert.subject.split("\n").filter((line) => line !== "").reverse().map((rdn) =>
    rdn.split(" + ").map(_escapeAttribute).join("+")
  ).join(",");
}

/** The certificate's subject alternative names, as `DNS:x`, `email:x`, `URI:x`, `IP Address:x`. */
export function subjectAltNames(cert: X509Certificate): string[] {
  const text = cert.subjectAltName;
  if (text === undefined || text === "") return [];
  // Node separates entries with ", " and quotes an entry that itself contains one.
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|, )([A-Za-z ]+:(?:"(?:[^"\\]|\\.)*"|[^,]*))/g)) {
    const entry = m[1]!;
    const colon = entry.indexOf(":");
    const value = entry.slice(colon + 1);
    out.push(
      entry.slice(0, colon + 1) + (value.startsWith('"') ? JSON.parse(value) as string : value),
    );
  }
  return out;
}

/** Maps certificates to principals (`User:<name>`) with one source and one rule list. */
export class CertificatePrincipalMapper {
  readonly #rules: PrincipalRule[];
  readonly #source: PrincipalSource;

  /** Parses `rules` now, so a bad rule fails at start-up rather than at the first client. */
  constructor(rules: readonly string[], source: PrincipalSource) {
    this.#rules = parsePrincipalRules(rules);
    this.#source = source;
  }

  /**
   * The principal for a DER certificate, or an error message naming the certificate's names when
   * no rule applies (the listener logs it and closes the connection, as Kafka refuses it).
   */
  principalOf(der: Uint8Array): { principal: string } | { refused: string } {
    const cert = new X509Certificate(der);
    const names = this.#source === "subject" ? [rfc2253Subject(cert)] : subjectAltNames(cert);
    for (const rule of this.#rules) {
      for (const name of names) {
        const mapped = mapPrincipalName(name, [rule]);
        if (mapped !== null && mapped !== "") return { principal: `User:${mapped}` };
      }
    }
    const what = this.#source === "subject" ? "subject" : "subject alternative names";
    return {
      refused:
        `no security.ssl_principal_mapping_rules entry applies to the certificate's ${what} ` +
        JSON.stringify(names),
    };
  }
}

// RFC 2253 section 2.4: escape , + " \ < > ; anywhere, # at the start, a space at either end.
function _escapeAttribute(attribute: string): string {
  const eq = attribute.indexOf("=");
  if (eq < 0) return attribute;
  const value = attribute.slice(eq + 1).replace(/[,+"\\<>;]/g, (c) => `\\${c}`)
    .replace(/^[# ]/, (c) => `\\${c}`).replace(/ $/, "\\ ");
  return `${attribute.slice(0, eq)}=${value}`;
}
