import assert from "node:assert/strict";
import { createLogger } from "./logger.ts";

Deno.test("createLogger writes JSON lines with level, timestamp, component and fields", () => {
  const lines: string[] = [];
  const log = createLogger("broker", {
    level: "debug",
    sink: (l) => lines.push(l),
    now: () => 1000,
  });
  log.debug("d");
  log.child("wal").warn("torn tail", { droppedBytes: 12n, err: new RangeError("x") });
  const second = JSON.parse(lines[1]!);
  assert.equal(lines.length, 2);
  assert.equal(second.ts, "1970-01-01T00:00:01.000Z");
  assert.equal(second.level, "warn");
  assert.equal(second.component, "broker.wal");
  assert.equal(second.droppedBytes, "12");
  assert.deepEqual(second.err, { name: "RangeError", message: "x" });
});

Deno.test("createLogger drops lines below its level and rejects unknown levels", () => {
  const lines: string[] = [];
  const log = createLogger("c", { level: "warn", sink: (l) => lines.push(l) });
  log.info("no");
  log.error("yes");
  assert.equal(lines.length, 1);
  assert.throws(() => createLogger("c", { level: "loud" as "info" }), RangeError);
});
