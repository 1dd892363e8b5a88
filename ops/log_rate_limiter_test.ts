import assert from "node:assert/strict";
import { LogRateLimiter } from "./log_rate_limiter.ts";
import { createLogger, flushLogSummaries } from "./logger.ts";

const bad = { component: "broker.tcp", level: "warn", msg: "Closing the connection" };

Deno.test("LogRateLimiter lets a burst per kind and window through and counts the rest", () => {
  const rl = new LogRateLimiter({ windowMs: 60_000, burst: 3 });
  const other = { ...bad, msg: "another message" };
  const passed = Array.from({ length: 10 }, (_, i) => rl.admit(bad, i * 100));
  assert.deepEqual(passed, [true, true, true, false, false, false, false, false, false, false]);
  assert.equal(rl.admit(other, 1000), true, "another kind has a window of its own");
  assert.equal(rl.admit({ ...bad, level: "error" }, 1000), true, "so does another level");
  assert.deepEqual(rl.drain(59_999), [], "nothing is reported before the window ends");
  assert.deepEqual(rl.drain(60_000), [{ ...bad, suppressed: 7, sinceMs: 0 }]);
  assert.deepEqual(rl.drain(120_000), [], "each summary is reported once");
  assert.equal(rl.admit(bad, 120_001), true, "a new window lets lines through again");
});

Deno.test("LogRateLimiter reports a window closed by a later line of its kind", () => {
  const rl = new LogRateLimiter({ windowMs: 1000, burst: 1 });
  rl.admit(bad, 0);
  rl.admit(bad, 1);
  rl.admit(bad, 2);
  assert.equal(rl.admit(bad, 5000), true);
  assert.deepEqual(rl.drain(5000), [{ ...bad, suppressed: 2, sinceMs: 0 }]);
});

Deno.test("LogRateLimiter bounds the kinds it tracks, reporting what it drops", () => {
  const rl = new LogRateLimiter({ windowMs: 1000, burst: 1, maxKinds: 2 });
  rl.admit({ ...bad, msg: "a" }, 0);
  rl.admit({ ...bad, msg: "a" }, 0);
  rl.admit({ ...bad, msg: "b" }, 0);
  rl.admit({ ...bad, msg: "c" }, 0);
  assert.deepEqual(rl.drain(0), [{ ...bad, msg: "a", suppressed: 1, sinceMs: 0 }]);
  assert.throws(() => new LogRateLimiter({ burst: 0 }), RangeError);
});

Deno.test("createLogger rate-limits warnings and errors and writes a per-window summary", () => {
  let t = 0;
  const lines: Record<string, unknown>[] = [];
  const root = createLogger("broker", {
    sink: (l) => lines.push(JSON.parse(l)),
    now: () => t,
    rateLimiter: new LogRateLimiter({ windowMs: 60_000, burst: 2 }),
  });
  const tcp = root.child("tcp");
  for (let i = 0; i < 1000; i++) {
    tcp.warn("Closing the connection as a request is shorter than its header", { i });
    t += 10;
  }
  tcp.info("info is never limited");
  tcp.info("info is never limited");
  tcp.info("info is never limited");
  assert.deepEqual(lines.map((l) => l.i ?? l.msg), [
    0,
    1,
    "info is never limited",
    "info is never limited",
    "info is never limited",
  ]);
  t = 60_000;
  flushLogSummaries(root); // what the process's minute timer does
  const summary = lines.at(-1)!;
  assert.deepEqual(summary, {
    ts: "1970-01-01T00:01:00.000Z",
    level: "warn",
    component: "broker.tcp",
    msg: "Suppressed repeated log lines",
    repeated: "Closing the connection as a request is shorter than its header",
    suppressed: 998,
    since: "1970-01-01T00:00:00.000Z",
  });
  flushLogSummaries(root);
  assert.equal(lines.length, 6, "the summary is written once");
});

Deno.test("createLogger with rateLimiter null writes every line", () => {
  const lines: string[] = [];
  const log = createLogger("c", { sink: (l) => lines.push(l), rateLimiter: null });
  for (let i = 0; i < 50; i++) log.error("same");
  assert.equal(lines.length, 50);
});
