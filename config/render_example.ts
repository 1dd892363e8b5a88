/**
 * Renders a schema as an example TOML file with every section and key at its default, each
 * commented with its meaning. `config/broker.toml` and `config/controller.toml` are this
 * function's output, and a test keeps them equal, so the examples can never drift from the code.
 *
 * Regenerate them, and the README's reference, with `deno run -A config/render_example.ts`.
 *
 * @module
 */

import { stringify } from "smol-toml";
import { BROKER_SCHEMA, CONTROLLER_SCHEMA, type FileSchema } from "./schema.ts";

/** Renders `schema` as commented TOML. */
export function renderExample(title: string, schema: FileSchema): string {
  const lines: string[] = [`# ${title}`, "# Every key is shown at its default.", ""];
  for (const [section, keys] of Object.entries(schema)) {
    lines.push(`[${section}]`);
    for (const [key, spec] of Object.entries(keys)) {
      // smol-toml renders an empty table as a [section]; an example wants the inline form.
      const value = spec.type === "table"
        ? "{}"
        : stringify({ v: spec.default }).replace(/^v = /, "").trimEnd();
      const tag = (spec.added ? " (RustMQ)" : "") + (spec.dynamic ? " (dynamic)" : "");
      lines.push(
        `${key} = ${value.includes("\n") ? _inline(spec.default) : value}  # ${spec.doc}${tag}`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

function _inline(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(", ")}]`;
  return "{}";
}

/** Renders `schema` as Markdown tables, one per section, for the README's reference. */
export function renderReference(schema: FileSchema): string {
  const lines: string[] = [];
  for (const [section, keys] of Object.entries(schema)) {
    lines.push(`**\`[${section}]\`**`, "", "| key | default | meaning |", "|---|---|---|");
    for (const [key, spec] of Object.entries(keys)) {
      const def = spec.type === "table" ? "{}" : JSON.stringify(spec.default);
      const range = spec.oneOf
        ? ` One of ${spec.oneOf.join(", ")}.`
        : spec.min !== undefined && spec.max !== undefined
        ? ` Range ${spec.min}..${spec.max}.`
        : "";
      const tag = (spec.added ? " *(RustMQ)*" : "") + (spec.dynamic ? " *(dynamic)*" : "");
      lines.push(`| \`${key}\` | \`${def}\` | ${spec.doc}.${range}${tag} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

const _START = "<!-- config-reference:start -->";
const _END = "<!-- config-reference:end -->";

/** Returns `readme` with its configuration reference replaced by the current schema's. */
export function withReference(readme: string): string {
  const a = readme.indexOf(_START);
  const b = readme.indexOf(_END);
  if (a < 0 || b < a) {
    throw new RangeError("Cannot update the README as its reference markers are missing");
  }
  const body = [
    "",
    "### `broker.toml`",
    "",
    renderReference(BROKER_SCHEMA),
    "### `controller.toml`",
    "",
    renderReference(CONTROLLER_SCHEMA),
  ].join("\n");
  return readme.slice(0, a + _START.length) + body + readme.slice(b);
}

/** The example files and their contents. */
export function examples(): Record<string, string> {
  return {
    "broker.toml": renderExample(
      "RustMQ broker configuration (rustmq broker --config broker.toml)",
      BROKER_SCHEMA,
    ),
    "controller.toml": renderExample(
      "RustMQ controller configuration (rustmq controller --config controller.toml)",
      CONTROLLER_SCHEMA,
    ),
  };
}

if (import.meta.main) {
  const dir = new URL(".", import.meta.url);
  for (const [name, text] of Object.entries(examples())) {
    Deno.writeTextFileSync(new URL(name, dir), text);
  }
  const readme = new URL("../README.md", dir);
  Deno.writeTextFileSync(readme, withReference(Deno.readTextFileSync(readme)));
}
