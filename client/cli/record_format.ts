/**
 * kcat-style output formats for the console consumer (`-f`): `%t` topic, `%p` partition,
 * `%o` offset, `%k` key, `%s` value, `%T` timestamp, `%h` headers (`k=v,k2=v2`), `%K`/`%S` key
 * and value sizes (-1 for null), `%%` a percent sign; `\n`, `\t`, `\r` and `\\` escapes.
 *
 * @module
 */

import type { ConsumerRecord } from "../consumer.ts";

/** A compiled format: literal text and field tokens. */
export type RecordFormat = readonly (string | { field: string })[];

const _FIELDS = new Set(["t", "p", "o", "k", "s", "T", "h", "K", "S"]);
const _ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\" };
const _decoder = new TextDecoder();

/**
 * Compiles a format string; throws `RangeError` on an unknown `%x` token.
 *
 * @example
 * ```ts
 * import { compileRecordFormat, formatRecord } from "./record_format.ts";
 * const format = compileRecordFormat("%t/%p@%o %k=%s\\n");
 * const value = new TextEncoder().encode("v");
 * const line = formatRecord(format, {
 *   topic: "t", partition: 1, offset: 7, key: null, value, headers: [], timestamp: 0,
 * });
 * if (line !== "t/1@7 =v\n") throw new Error(JSON.stringify(line));
 * ```
 */
export function compileRecordFormat(text: string): RecordFormat {
  const out: (string | { field: string })[] = [];
  let literal = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === "\\" && next !== undefined && next in _ESCAPES) {
      literal += _ESCAPES[next];
      i++;
    } else if (c === "%" && next === "%") {
      literal += "%";
      i++;
    } else if (c === "%") {
      if (next === undefined || !_FIELDS.has(next)) {
        throw new RangeError(
          `Cannot use the format as %${
            next ?? ""
          } is not one of %t %p %o %k %s %T %h %K %S: current value is ${text}`,
        );
      }
      if (literal !== "") out.push(literal);
      literal = "";
      out.push({ field: next });
      i++;
    } else {
      literal += c;
    }
  }
  if (literal !== "") out.push(literal);
  return out;
}

function _text(bytes: Uint8Array | null): string {
  return bytes === null ? "" : _decoder.decode(bytes);
}

function _field(field: string, r: ConsumerRecord): string {
  switch (field) {
    case "t":
      return r.topic;
    case "p":
      return String(r.partition);
    case "o":
      return String(r.offset);
    case "k":
      return _text(r.key);
    case "s":
      return _text(r.value);
    case "T":
      return String(r.timestamp);
    case "K":
      return String(r.key?.length ?? -1);
    case "S":
      return String(r.value?.length ?? -1);
    default:
      return r.headers.map((h) => `${h.key}=${_text(h.value)}`).join(",");
  }
}

/** Renders one record. */
export function formatRecord(format: RecordFormat, record: ConsumerRecord): string {
  let out = "";
  for (const part of format) out += typeof part === "string" ? part : _field(part.field, record);
  return out;
}
