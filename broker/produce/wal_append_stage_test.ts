import assert from "node:assert/strict";
import { AppendGate, awaitWalDurable, submitToWal, type WalSpace } from "./wal_append_stage.ts";
import { ledPartition, stageBatch } from "./stage_fixture.ts";
import { AppendRollbacks } from "../append_rollback.ts";
import { LogCache } from "../log/log_cache.ts";
import { ManualClock } from "../../ops/clock.ts";
import { silentLogger } from "../../ops/logger.ts";
import { KafkaProtocolError } from "../broker_errors.ts";
import { WalDiskFullError, WalIoError } from "../wal/wal_errors.ts";
import type { WalStats } from "../wal/wal.ts";

/** A WAL whose fill the test sets; each space wait either frees space or lets time pass. */
function fakeWal(clock: ManualClock, usedBytes: number) {
  const state = { usedBytes, waits: 0, freeOnWait: 0 };
  const wal: WalSpace = {
    get stats() {
      return { usedBytes: state.usedBytes } as WalStats;
    },
    whenSpaceFreed: (timeoutMs: number) => {
      state.waits++;
      if (state.freeOnWait > 0) state.usedBytes -= state.freeOnWait;
      else clock.advance(timeoutMs);
      return Promise.resolve();
    },
  };
  return { wal, state };
}

function gateOn(wal: WalSpace, clock: ManualClock, reason: string | null = null) {
  return new AppendGate({
    wal,
    highWaterBytes: 100,
    fullReason: () => reason,
    fullWaitMs: 500,
    nowMs: () => clock.nowMs(),
    logger: silentLogger,
  });
}

Deno.test("AppendGate waits on the space-freed event and admits once the WAL drops below its mark", async () => {
  const clock = new ManualClock();
  const { wal, state } = fakeWal(clock, 150);
  state.freeOnWait = 30;
  await gateOn(wal, clock).awaitSpace();
  assert.equal(state.waits, 2);
  assert.equal(state.usedBytes, 90);
  assert.equal(clock.nowMs(), 0);
});

Deno.test("AppendGate gives up after fullWaitMs with the reason the WAL is full", async () => {
  const clock = new ManualClock();
  const { wal, state } = fakeWal(clock, 150);
  await assert.rejects(
    gateOn(wal, clock, "the object store is down").awaitSpace(),
    (e) =>
      e instanceof KafkaProtocolError && e.code === "KAFKA_STORAGE_ERROR" && e.retriable &&
      /150 bytes used of 100 allowed, the object store is down/.test(e.message),
  );
  assert.equal(state.waits, 1);
  assert.equal(clock.nowMs(), 500);
});

Deno.test("AppendGate refuses every append after a fatal WAL failure", async () => {
  const clock = new ManualClock();
  const gate = gateOn(fakeWal(clock, 0).wal, clock);
  gate.checkWritable();
  gate.fail(new Error("bad sector"));
  gate.fail(new Error("later"));
  assert.equal(gate.fatalError?.message, "bad sector");
  await assert.rejects(gate.awaitSpace(), /Cannot append as the WAL failed: bad sector/);
});

Deno.test("submitToWal turns a synchronous throw into a rejection and settles p.durable", async () => {
  const { p } = ledPartition();
  const batch = await stageBatch(1);
  const seen: [number, bigint][] = [];
  const ok = submitToWal(
    {
      append: (s, b) => (seen.push([s, b]), Promise.resolve({} as never)),
    },
    p,
    4,
    batch,
  );
  await ok;
  assert.deepEqual(seen, [[7, 4n]]);
  const thrown = submitToWal(
    {
      append: () => {
        throw new RangeError("too big");
      },
    },
    p,
    5,
    batch,
  );
  await p.durable;
  await assert.rejects(thrown, RangeError);
  p.leader!.close();
});

Deno.test("awaitWalDurable: a space rejection is cut back and retriable, an I/O failure stops appends", async () => {
  const { p } = ledPartition();
  const clock = new ManualClock();
  const cache = new LogCache({ capacityBytes: 1 << 20, waitTimeoutMs: 10, clock });
  const gate = gateOn(fakeWal(clock, 0).wal, clock);
  const rollbacks = new AppendRollbacks(cache, silentLogger, (e) => gate.fail(e));
  const batch = await stageBatch(2);
  await cache.reserve(batch.length);
  const assigned = p.log.assign(batch);
  cache.appendReserved(p.key, batch);
  rollbacks.issued(p);
  const full = Promise.reject(new WalDiskFullError("/wal/0", new Error("ENOSPC")));
  await assert.rejects(
    awaitWalDurable(full, p, assigned.baseOffset, { rollbacks, gate }),
    (e) => e instanceof KafkaProtocolError && /disk is full/.test(e.message) && e.retriable,
  );
  assert.equal(p.log.logEndOffset, 0);
  assert.equal(gate.fatalError, null);
  rollbacks.issued(p);
  const broken = Promise.reject(new WalIoError("/wal/0", new Error("EIO")));
  await assert.rejects(awaitWalDurable(broken, p, 0, { rollbacks, gate }), KafkaProtocolError);
  // Read through a call: the earlier assert narrowed `gate.fatalError` to null.
  const fatalOf = (g: AppendGate): Error | null => g.fatalError;
  assert.ok(fatalOf(gate) instanceof WalIoError);
  p.leader!.close();
});
