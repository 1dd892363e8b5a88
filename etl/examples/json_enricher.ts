// Example ETL module (AssemblyScript): adds "etl":"rustmq" and the original size in bytes to
// each JSON object value. A value that is not a JSON object fails the record (non-zero return),
// so the topic's failure policy decides what happens to it.
import { emitString, log, readString } from "../assemblyscript/rustmq";
export { alloc } from "../assemblyscript/rustmq";

export function transform(kp: i32, kl: i32, vp: i32, vl: i32): i32 {
  const value = readString(vp, vl);
  if (value == null) return 1;
  const body = value.trim();
  if (!body.startsWith("{") || !body.endsWith("}")) {
    log("json_enricher: value is not a JSON object");
    return 1;
  }
  const inner = body.substring(1, body.length - 1).trim();
  const extra = '"etl":"rustmq","bytes":' + vl.toString();
  emitString(readString(kp, kl), "{" + (inner.length > 0 ? inner + "," : "") + extra + "}");
  return 0;
}
