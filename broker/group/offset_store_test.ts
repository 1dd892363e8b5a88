import assert from "node:assert/strict";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import { type OffsetLog, type OffsetLogRecord, OffsetStore } from "./offset_store.ts";
import {
  decodeOffsetKey,
  decodeOffsetValue,
  encodeOffsetKey,
  encodeOffsetValue,
  offsetsPartitionFor,
} from "./offset_record.ts";

/** An in-memory internal topic; `failNext` makes the next append fail. */
class _MemoryLog implements OffsetLog {
  readonly partitions = new Map<number, OffsetLogRecord[]>();
  failNext = false;
  append(partition: number, records: readonly OffsetLogRecord[]): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(Object.assign(new Error("disk"), { code: "KAFKA_STORAGE_ERROR" }));
    }
    const list = this.partitions.get(partition) ?? [];
    list.push(...records);
    this.partitions.set(partition, list);
    return Promise.resolve();
  }
  replayInto(store: OffsetStore): void {
    for (const list of this.partitions.values()) {
      for (const r of list) store.replay(r.key, r.value);
    }
  }
}

const _entry = (
  topic: string,
  partition: number,
  offset: bigint,
  metadata: string | null = "",
) => ({
  topic,
  partition,
  offset,
  leaderEpoch: 5,
  metadata,
});

Deno.test("OffsetStore commits durably, then serves fetches from its cache", async () => {
  const log = new _MemoryLog();
  const store = new OffsetStore({ log, partitions: 10 });
  const out = await store.commit("g", [_entry("t", 0, 42n, "m"), _entry("t", 1, 7n)], 1000);
  assert.deepEqual(out.map((o) => o.errorCode), [ErrorCode.NONE, ErrorCode.NONE]);
  assert.deepEqual([...log.partitions.keys()], [offsetsPartitionFor("g", 10)]);
  const fetched = store.fetch("g", [{ name: "t", partitions: [0, 1, 2] }]);
  assert.deepEqual(fetched.map((f) => [f.partition, f.offset, f.metadata, f.leaderEpoch]), [
    [0, 42n, "m", 5],
    [1, 7n, "", 5],
    [2, -1n, "", -1],
  ]);
  assert.equal(store.fetch("g", null).length, 2, "a null topic list means every committed one");
  assert.equal(store.fetch("other", null).length, 0);
});

Deno.test("OffsetStore keeps a failed commit invisible and reports the storage error", async () => {
  const log = new _MemoryLog();
  const store = new OffsetStore({ log });
  await store.commit("g", [_entry("t", 0, 1n)], 1);
  log.failNext = true;
  const out = await store.commit("g", [_entry("t", 0, 2n)], 2);
  assert.equal(out[0]?.errorCode, ErrorCode.KAFKA_STORAGE_ERROR);
  assert.equal(store.fetch("g", [{ name: "t", partitions: [0] }])[0]?.offset, 1n);
});

Deno.test("OffsetStore refuses over-long metadata for that partition only", async () => {
  const store = new OffsetStore({ log: new _MemoryLog(), metadataBytesMax: 4 });
  const out = await store.commit("g", [_entry("t", 0, 1n, "12345"), _entry("t", 1, 1n, "1234")], 1);
  assert.deepEqual(out.map((o) => o.errorCode), [
    ErrorCode.OFFSET_METADATA_TOO_LARGE,
    ErrorCode.NONE,
  ]);
});

Deno.test("OffsetStore rebuilds the same offsets by replaying the internal topic", async () => {
  const log = new _MemoryLog();
  const store = new OffsetStore({ log, partitions: 3, recordsPerAppendMax: 2 });
  await store.commit("a", [_entry("t", 0, 1n), _entry("t", 1, 2n), _entry("u", 0, 3n)], 10);
  await store.commit("a", [_entry("t", 0, 100n)], 11);
  await store.commit("b", [_entry("t", 0, 5n)], 12);
  await store.deleteGroup("b");
  const rebuilt = new OffsetStore({ log: new _MemoryLog(), partitions: 3 });
  log.replayInto(rebuilt);
  assert.deepEqual(rebuilt.fetch("a", null), store.fetch("a", null));
  assert.equal(rebuilt.fetch("a", [{ name: "t", partitions: [0] }])[0]?.offset, 100n);
  assert.equal(rebuilt.hasOffsets("b"), false, "the tombstones deleted group b");
  assert.deepEqual(rebuilt.groups(), ["a"]);
});

Deno.test("OffsetStore expires only the offsets the policy says are due, with tombstones", async () => {
  const log = new _MemoryLog();
  const store = new OffsetStore({ log });
  await store.commit("old", [_entry("t", 0, 1n)], 1_000);
  await store.commit("active", [_entry("t", 0, 1n)], 1_000);
  const emptied = await store.expire(
    10_000,
    (group, committed) => group === "active" ? null : committed + 5_000,
  );
  assert.deepEqual(emptied, ["old"]);
  assert.equal(store.hasOffsets("old"), false);
  assert.equal(store.hasOffsets("active"), true);
  const tombstones = [...log.partitions.values()].flat().filter((r) => r.value === null);
  assert.equal(tombstones.length, 1);
  assert.deepEqual(decodeOffsetKey(tombstones[0]!.key), { group: "old", topic: "t", partition: 0 });
});

Deno.test("offset records round-trip in Kafka's layout and old value versions decode", () => {
  const key = { group: "grp", topic: "tópico", partition: 7 };
  const k = encodeOffsetKey(key);
  assert.deepEqual([...k.subarray(0, 4)], [0, 1, 0, 3], "key version 1, then the group length");
  assert.deepEqual(decodeOffsetKey(k), key);
  const value = {
    offset: 1234567890123n,
    leaderEpoch: 9,
    metadata: "meta",
    commitTimestampMs: 1700000000000,
  };
  assert.deepEqual(decodeOffsetValue(encodeOffsetValue(value)), value);
  // Value version 1: offset, metadata, commit timestamp, expire timestamp.
  const v1 = new Uint8Array(2 + 8 + 2 + 1 + 8 + 8);
  const dv = new DataView(v1.buffer);
  dv.setInt16(0, 1);
  dv.setBigInt64(2, 55n);
  dv.setInt16(10, 1);
  v1[12] = 0x78; // "x"
  dv.setBigInt64(13, 99n);
  dv.setBigInt64(21, -1n);
  assert.deepEqual(decodeOffsetValue(v1), {
    offset: 55n,
    leaderEpoch: -1,
    metadata: "x",
    commitTimestampMs: 99,
  });
  assert.equal(decodeOffsetKey(new Uint8Array([0, 2, 0, 1, 0x67])), null, "group metadata key");
  assert.throws(() => decodeOffsetValue(new Uint8Array([0, 3, 0])), { name: "OffsetRecordError" });
});

Deno.test("offsetsPartitionFor matches Java's String.hashCode, including its MIN_VALUE edge", () => {
  assert.equal(offsetsPartitionFor("hello", 50), 99162322 % 50);
  assert.equal(offsetsPartitionFor("", 50), 0);
  // "polygenelubricants".hashCode() is Integer.MIN_VALUE; Kafka's Utils.abs maps it to 0.
  assert.equal(offsetsPartitionFor("polygenelubricants", 7), 0);
  // "my-group".hashCode() is -1906497762: abs() is taken before the modulo.
  assert.equal(offsetsPartitionFor("my-group", 50), 1906497762 % 50);
});
