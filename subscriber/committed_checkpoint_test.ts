import assert from "node:assert/strict";
import {
  decodeCheckpoint,
  encodeCheckpoint,
  PartitionLedger,
  rowKey,
  type StreamCheckpoint,
} from "./committed_checkpoint.ts";

Deno.test("rowKey takes the offset and index from an insertId", () => {
  assert.deepEqual(rowKey("events/3/17"), { key: "17", offset: 17 });
  assert.deepEqual(rowKey("events/3/17/2"), { key: "17/2", offset: 17 });
});

Deno.test("a checkpoint survives encoding, with runs of gaps folded into ranges", () => {
  const c: StreamCheckpoint = { s: "t/streams/a", x: 4, pre: 2, gaps: ["9", "5", "6", "7", "8/1"] };
  const text = encodeCheckpoint(c);
  assert.match(text, /"5-7","9","8\/1"/);
  const back = decodeCheckpoint(text)!;
  assert.deepEqual({ ...back, gaps: [...back.gaps].sort() }, { ...c, gaps: [...c.gaps].sort() });
  // A whole refused batch of 1000 single-row records is one range.
  const big = encodeCheckpoint({ ...c, gaps: Array.from({ length: 1000 }, (_, i) => `${i}`) });
  assert.ok(big.length < 100, big);
  assert.equal(decodeCheckpoint(""), null);
  assert.throws(() => decodeCheckpoint('{"v":1,"s":3}'), /not a stream checkpoint/);
});

Deno.test("restart arithmetic: skip pre + N - x non-gap rows, then append", () => {
  // Committed at K=10: s had 4 rows of records < 10, 2 rows of records >= 10 are in older
  // streams, and row 11 was refused before. Finalizing s says it holds 7 rows: 3 past x.
  const l = new PartitionLedger({ s: "s", x: 4, pre: 2, gaps: ["11"] }, 7);
  assert.equal(l.skipping, 5);
  const fates = [10, 11, 12, 13, 14, 15, 16].map((o) => l.classify(String(o), o));
  assert.deepEqual(fates, ["skip", "gap", "skip", "skip", "skip", "skip", "append"]);
  assert.throws(() => new PartitionLedger({ s: "s", x: 9, pre: 0, gaps: [] }, 3), /fewer rows/);
});

Deno.test("checkpoints count rows of the current stream below K, earlier streams and gaps above it", () => {
  const l = new PartitionLedger(null, 0);
  l.switchTo("s1");
  for (const o of [0, 1, 2]) assert.equal(l.classify(String(o), o), "append");
  l.appended([0, 1, 2]);
  l.dropped("3");
  l.appended([4]);
  assert.deepEqual(l.checkpoint(2), { s: "s1", x: 2, pre: 0, gaps: ["3"] });
  // Leaving s1 for s2: its rows of records >= K now count as earlier-stream rows.
  l.switchTo("s2");
  l.appended([5]);
  assert.deepEqual(l.checkpoint(3), { s: "s2", x: 0, pre: 1, gaps: ["3"] });
  assert.deepEqual(l.checkpoint(5), { s: "s2", x: 0, pre: 0, gaps: [] });
  assert.deepEqual(l.checkpoint(6), { s: "s2", x: 1, pre: 0, gaps: [] });
});

/** A seeded generator, so a failure can be replayed. */
function _rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A model of the writer against a model of BigQuery, crashed at random moments: appends land in
 * the stream before the writer hears of it, rows are refused at random, stream switches happen,
 * and commits happen at random. Every row must end in the table exactly once or be a gap.
 */
function _simulate(seed: number): boolean {
  const rand = _rng(seed);
  const records = Array.from({ length: 60 }, (_, o) => {
    const n = 1 + Math.floor(rand() * 3);
    return n === 1 ? [String(o)] : Array.from({ length: n }, (_, i) => `${o}/${i}`);
  });
  const streams = new Map<string, string[]>();
  let committed = { k: 0, meta: "" };
  const everDropped = new Set<string>();
  let seq = 0;
  for (let life = 0; life < 40 && committed.k < records.length; life++) {
    const found = decodeCheckpoint(committed.meta);
    const l = new PartitionLedger(found, found?.s ? streams.get(found.s)!.length : 0);
    const commit = (k: number) => {
      committed = { k, meta: encodeCheckpoint(l.checkpoint(k)) };
    };
    let settled = committed.k;
    let dirty = true; // a new stream or a gap must be checkpointed before the next append
    const newStream = () => {
      l.switchTo(`s${++seq}`);
      streams.set(l.stream, []);
      dirty = true;
    };
    newStream();
    const crashAt = Math.floor(rand() * 40);
    let steps = 0;
    for (let o = committed.k; o < records.length; o++) {
      if (steps++ === crashAt) break;
      const pending: string[] = [];
      for (const key of records[o]!) {
        const fate = l.classify(key, o);
        if (fate === "gap") continue;
        if (fate === "append") pending.push(key);
      }
      if (pending.length > 0 && rand() < 0.15) {
        const bad = pending.splice(Math.floor(rand() * pending.length), 1)[0]!;
        l.dropped(bad); // refused: a gap
        everDropped.add(bad);
        dirty = true;
      }
      if (pending.length > 0) {
        if (dirty) commit(settled), dirty = false;
        streams.get(l.stream)!.push(...pending); // landed in BigQuery
        if (rand() < 0.1) break; // crash before the ack reached the writer
        l.appended(pending.map(() => o));
      }
      settled = o + 1;
      if (rand() < 0.3) commit(settled);
      if (rand() < 0.05) newStream(); // gave up on a stream: finalize it and use another
    }
  }
  const table = [...streams.values()].flat();
  const counts = new Map<string, number>();
  for (const k of table) counts.set(k, (counts.get(k) ?? 0) + 1);
  for (const [o, keys] of records.entries()) {
    if (o >= committed.k) break; // not consumed yet when the lives ran out
    for (const k of keys) {
      const n = counts.get(k) ?? 0;
      if (everDropped.has(k)) assert.ok(n <= 1, `seed ${seed}: dropped row ${k} is there ${n}×`);
      else assert.equal(n, 1, `seed ${seed}: row ${k} is in the table ${n}×`);
    }
  }
  return committed.k === records.length;
}

Deno.test("a modelled writer crashed at random lands every row exactly once (500 seeds)", () => {
  let finished = 0;
  for (let seed = 1; seed <= 500; seed++) if (_simulate(seed)) finished++;
  // Most runs consume every record within their 40 lives, so the check covers whole streams.
  assert.ok(finished > 450, `only ${finished} of 500 runs finished`);
});
