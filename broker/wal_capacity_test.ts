import assert from "node:assert/strict";
import { decideWalCapacity, WalCapacityError } from "./wal_capacity.ts";

const MIB = 1024 * 1024;
const base = { path: "/wal", segmentBytes: 4 * MIB, heldBytes: 0, clamp: false };

Deno.test("decideWalCapacity keeps a capacity the disk has room for, counting the WAL's own files", () => {
  assert.deepEqual(
    decideWalCapacity({
      ...base,
      capacityBytes: 64 * MIB,
      availableBytes: 40 * MIB,
      heldBytes: 24 * MIB,
    }),
    { capacityBytes: 64 * MIB, clamped: false },
  );
});

Deno.test("decideWalCapacity refuses a capacity above the disk, naming both numbers", () => {
  assert.throws(
    () => decideWalCapacity({ ...base, capacityBytes: 2048 * MIB, availableBytes: 30 * MIB }),
    (e: unknown) =>
      e instanceof WalCapacityError &&
      e.message.includes("wal.capacity_bytes is 2147483648") &&
      e.message.includes(`room for ${30 * MIB} bytes`) &&
      e.message.includes("wal.clamp_capacity_to_disk"),
  );
});

Deno.test("decideWalCapacity clamps to whole segments when asked, and never below two", () => {
  assert.deepEqual(
    decideWalCapacity({
      ...base,
      clamp: true,
      capacityBytes: 2048 * MIB,
      availableBytes: 30 * MIB,
    }),
    { capacityBytes: 28 * MIB, clamped: true },
  );
  assert.throws(
    () =>
      decideWalCapacity({
        ...base,
        clamp: true,
        capacityBytes: 2048 * MIB,
        availableBytes: 7 * MIB,
      }),
    WalCapacityError,
  );
});
