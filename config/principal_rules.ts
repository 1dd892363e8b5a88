/**
 * Kafka's `ssl.principal.mapping.rules`: `RULE:pattern/replacement/` with an optional `L` or `U`
 * (lower- or upper-case the result), or `DEFAULT` (the name unchanged). A rule applies only when
 * its pattern matches the whole name; the first rule that applies gives the principal name.
 * Config validation parses them, so they live beside the schema; the broker applies them to
 * client certificates (broker/security/principal_mapping.ts).
 *
 * @module
 */

/** One parsed `ssl.principal.mapping.rules` entry. */
export type PrincipalRule =
  | { readonly kind: "default" }
  | {
    readonly kind: "rule";
    readonly whole: RegExp;
    readonly global: RegExp;
    readonly replacement: string;
    readonly caseFold: "" | "L" | "U";
  };

/** A rule that does not parse, with the reason. */
export class PrincipalRuleError extends Error {
  /** Builds the error for `rule`. */
  constructor(readonly rule: string, reason: string) {
    super(`Cannot use the principal mapping rule ${JSON.stringify(rule)} as ${reason}`);
    this.name = "PrincipalRuleError";
  }
}

// RULE:<pattern>/<replacement>/[LU]; a slash inside either part is written "\/", as in Kafka.
const _RULE = /^RULE:((?:\\\/|[^/])*)\/((?:\\\/|[^/])*)\/([LU]?)$/;

/**
 * Parses Kafka-style mapping rules; throws {@linkcode PrincipalRuleError} on the first bad one.
 *
 * @example
 * ```ts
 * import { mapPrincipalName, parsePrincipalRules } from "./principal_rules.ts";
 * const rules = parsePrincipalRules(["RULE:^CN=([^,]+),OU=eng,.*$/$1/L", "DEFAULT"]);
 * console.assert(mapPrincipalName("CN=Alice,OU=eng,O=Acme", rules) === "alice");
 * ```
 */
export function parsePrincipalRules(rules: readonly string[]): PrincipalRule[] {
  if (rules.length === 0) throw new PrincipalRuleError("", 'the list is empty (use ["DEFAULT"])');
  return rules.map((text) => {
    const rule = text.trim();
    if (rule === "DEFAULT") return { kind: "default" };
    const m = _RULE.exec(rule);
    if (m === null) {
      throw new PrincipalRuleError(rule, "it is neither DEFAULT nor RULE:pattern/replacement/[LU]");
    }
    const pattern = m[1]!.replaceAll("\\/", "/");
    try {
      return {
        kind: "rule",
        whole: new RegExp(`^(?:${pattern})$`),
        global: new RegExp(pattern, "g"),
        replacement: m[2]!.replaceAll("\\/", "/"),
        caseFold: m[3] as "" | "L" | "U",
      };
    } catch (error) {
      throw new PrincipalRuleError(
        rule,
        `its pattern is not a valid regular expression (${error})`,
      );
    }
  });
}

/** The principal name the first applicable rule gives for `name`, or null when none applies. */
export function mapPrincipalName(name: string, rules: readonly PrincipalRule[]): string | null {
  for (const rule of rules) {
    if (rule.kind === "default") return name;
    if (!rule.whole.test(name)) continue;
    // As Kafka does: every match of the pattern in the name is replaced ($1 names a group).
    const out = name.replace(rule.global, rule.replacement);
    return rule.caseFold === "L"
      ? out.toLowerCase()
      : rule.caseFold === "U"
      ? out.toUpperCase()
      : out;
  }
  return null;
}
