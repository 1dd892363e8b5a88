import assert from "node:assert/strict";
import {
  emptyManifest,
  manifestAdvanceLogStart,
  type ManifestChange,
  manifestCommitCompaction,
  manifestCommitUpload,
  ManifestIndex,
  manifestRemovePartition,
} from "./manifest_state.ts";
import type { ManifestObject } from "../../model/object_manifest.ts";

const change = (): ManifestChange => ({
  partitions: new Set(),
  objectsAdded: [],
  objectsRemoved: [],
});
const obj = (key: string, ranges: [string, number, number][]): ManifestObject => ({
  objectKey: key,
  sizeBytes: 100,
  createdMs: 0,
  ranges: ranges.map(([k, b, l]) => ({
    key: k,
    baseOffset: b,
    lastOffset: l,
    position: 0,
    length: 10,
    maxTimestamp: 0,
  })),
});

Deno.test("manifestCommitUpload requires contiguous offsets and is idempotent per object", () => {
  const s = emptyManifest();
  manifestCommitUpload(s, obj("a", [["p/0", 0, 9], ["p/1", 5, 6]]), change());
  assert.deepEqual(s.partitions["p/0"], { logStartOffset: 0, uploadedEndOffset: 10 });
  assert.deepEqual(s.partitions["p/1"], { logStartOffset: 5, uploadedEndOffset: 7 });
  assert.throws(() => manifestCommitUpload(s, obj("b", [["p/0", 11, 12]]), change()), {
    code: "MANIFEST_CONFLICT",
  });
  // A gap in one partition rejects the whole object: nothing of it lands.
  assert.throws(() => manifestCommitUpload(s, obj("c", [["p/1", 7, 8], ["p/0", 3, 4]]), change()));
  assert.deepEqual(s.partitions["p/1"], { logStartOffset: 5, uploadedEndOffset: 7 });
  const c = change();
  manifestCommitUpload(s, obj("a", [["p/0", 0, 9], ["p/1", 5, 6]]), c);
  assert.equal(c.objectsAdded.length, 0, "a retried commit is a no-op");
  assert.throws(() => manifestCommitUpload(s, obj("a", [["p/2", 0, 1]]), change()));
});

Deno.test("manifestCommitCompaction swaps objects only for identical ranges", () => {
  const s = emptyManifest();
  manifestCommitUpload(s, obj("a", [["p/0", 0, 4], ["p/1", 0, 1]]), change());
  manifestCommitUpload(s, obj("b", [["p/0", 5, 9]]), change());
  assert.throws(() =>
    manifestCommitCompaction(s, [obj("x", [["p/0", 0, 9]])], ["a", "b"], change())
  );
  manifestCommitCompaction(
    s,
    [obj("x", [["p/0", 0, 4], ["p/0", 5, 9]]), obj("y", [["p/1", 0, 1]])],
    ["a", "b"],
    change(),
  );
  assert.deepEqual(s.objects.map((o) => o.objectKey), ["x", "y"]);
  assert.throws(() => manifestCommitCompaction(s, [], ["missing"], change()));
});

Deno.test("manifestAdvanceLogStart and manifestRemovePartition drop unreferenced objects", () => {
  const s = emptyManifest();
  manifestCommitUpload(s, obj("a", [["p/0", 0, 4], ["q/0", 0, 4]]), change());
  manifestCommitUpload(s, obj("b", [["p/0", 5, 9]]), change());
  assert.deepEqual(manifestAdvanceLogStart(s, "p/0", 5, change()), [], "a is still held by q/0");
  assert.deepEqual(manifestAdvanceLogStart(s, "p/0", 3, change()), [], "never backwards");
  assert.deepEqual(manifestRemovePartition(s, "q/0", change()), ["a"]);
  assert.deepEqual(manifestRemovePartition(s, "q/0", change()), []);
  const index = new ManifestIndex();
  index.reset(s);
  assert.deepEqual(index.ranges("p/0").map((r) => r.range.baseOffset), [5]);
  assert.equal(index.has("a"), false);
  index.applyDelta({ partitions: { "p/0": null }, objectsAdded: [], objectsRemoved: ["b"] });
  assert.equal(index.partition("p/0"), undefined);
  assert.equal(index.objects().length, 0);
});
