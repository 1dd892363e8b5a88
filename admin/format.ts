/**
 * Plain-text tables for `rustmq admin`.
 *
 * @module
 */

/**
 * Renders rows as a left-aligned table with a header line.
 *
 * @example
 * ```ts
 * import { table } from "./format.ts";
 * import assert from "node:assert/strict";
 * assert.equal(table(["A", "BB"], [["x", "y"]]), "A  BB\nx  y\n");
 * ```
 */
export function table(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [header, ...rows].map((r) => r.map((c) => _cell(c)));
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells.map((r) =>
    r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")
  ).join("\n") + "\n";
}

function _cell(c: unknown): string {
  if (c === null || c === undefined) return "-";
  if (Array.isArray(c)) return c.join(",");
  return String(c);
}
