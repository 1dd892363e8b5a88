// Example ETL module (AssemblyScript): drops debug-level JSON log records and tombstones.
import { emit, readBytes, readString } from "../assemblyscript/rustmq";
export { alloc } from "../assemblyscript/rustmq";

export function transform(kp: i32, kl: i32, vp: i32, vl: i32): i32 {
  const value = readString(vp, vl);
  if (value == null) return 0;
  if (value.includes('"level":"debug"')) return 0;
  emit(readBytes(kp, kl), readBytes(vp, vl));
  return 0;
}
