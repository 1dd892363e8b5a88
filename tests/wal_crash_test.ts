/**
 * Kills a WAL writer with SIGKILL at random moments and checks that nothing acknowledged is
 * lost: every acknowledged (stream, offset, payload hash) comes back intact, in order, and no
 * offset repeats. Runs against the portable and the direct-I/O backend (when available).
 *
 * Seeded: the seed is printed; rerun with WAL_CRASH_SEED=<n>.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Wal } from "../broker/wal/wal.ts";
import { FfiBackend } from "../broker/wal/wal_ffi_backend.ts";
import { crc32c } from "../protocol/crc32c.ts";

const KILLS = 20;
const WRITERS = 16;
const CHILD = new URL("./wal_crash_child.ts", import.meta.url).pathname;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Ack {
  stream: number;
  offset: bigint;
  hash: number;
}

/** Runs the child until it prints READY, lets it append for `runMs`, kills it, returns acks. */
async function runOnce(
  dir: string,
  backend: string,
  seed: number,
  runMs: number,
): Promise<{ acks: Ack[]; droppedBytes: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, dir, backend, String(WRITERS), String(seed)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const acks: Ack[] = [];
  let pending = "";
  let droppedBytes = 0;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!; // a line cut by the kill is not an acknowledgement we can trust
    for (const line of lines) {
      const [kind, a, b, c] = line.split(" ");
      if (kind === "READY" && killTimer === undefined) {
        droppedBytes = Number(b);
        killTimer = setTimeout(() => child.kill("SIGKILL"), runMs);
      } else if (kind === "ACK") {
        acks.push({ stream: Number(a), offset: BigInt(b!), hash: Number(c) });
      }
    }
  }
  clearTimeout(killTimer);
  const status = await child.status;
  assert.equal(status.signal, "SIGKILL", `child exited by itself: code ${status.code}`);
  return { acks, droppedBytes };
}

async function crashTest(backend: "portable" | "ffi") {
  const seed = Number(Deno.env.get("WAL_CRASH_SEED") ?? Date.now() % 1_000_000);
  console.log(`wal crash test (${backend}) seed: ${seed}`);
  const random = mulberry32(seed);
  const dir = await Deno.makeTempDir({ prefix: "rustmq-wal-crash-" });
  try {
    const acked: Ack[] = [];
    let tornRestarts = 0;
    for (let round = 0; round < KILLS; round++) {
      const runMs = 20 + Math.floor(random() * 300);
      const run = await runOnce(dir, backend, Math.floor(random() * 2 ** 31), runMs);
      acked.push(...run.acks);
      if (run.droppedBytes > 0) tornRestarts++;
    }
    assert.ok(acked.length > KILLS, `only ${acked.length} acknowledgements in ${KILLS} runs`);
    const { wal, recovered } = await Wal.open({
      path: dir,
      backend,
      capacityBytes: 1 << 30,
      segmentSizeBytes: 4 << 20,
    });
    await wal.close();
    _verify(acked, recovered);
    console.log(
      `  ${KILLS} kills, ${acked.length} acknowledged, ${recovered.length} recovered, ` +
        `${tornRestarts} restarts cut a torn tail`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function _verify(
  acked: Ack[],
  recovered: { streamId: number; baseOffset: bigint; payload: Uint8Array; seq: number }[],
) {
  const byKey = new Map<string, { hash: number; seq: number }>();
  const lastOffset = new Map<number, bigint>();
  recovered.forEach((entry, k) => {
    assert.equal(entry.seq, k + 1, "seqs are dense and in order");
    const previous = lastOffset.get(entry.streamId);
    assert.ok(
      previous === undefined || entry.baseOffset > previous,
      `offset repeats on stream ${entry.streamId}`,
    );
    lastOffset.set(entry.streamId, entry.baseOffset);
    byKey.set(`${entry.streamId}/${entry.baseOffset}`, {
      hash: crc32c(entry.payload),
      seq: entry.seq,
    });
  });
  const lastSeqOfStream = new Map<number, number>();
  for (const ack of acked) {
    const found = byKey.get(`${ack.stream}/${ack.offset}`);
    assert.ok(
      found !== undefined,
      `acknowledged stream ${ack.stream} offset ${ack.offset} was lost`,
    );
    assert.equal(
      found.hash,
      ack.hash,
      `payload of stream ${ack.stream} offset ${ack.offset} changed`,
    );
    const before = lastSeqOfStream.get(ack.stream) ?? 0;
    assert.ok(found.seq > before, `stream ${ack.stream} out of order`);
    lastSeqOfStream.set(ack.stream, found.seq);
  }
}

Deno.test("Wal[portable] loses no acknowledged append across SIGKILLs", () =>
  crashTest("portable"));

const ffiSkip = (() => {
  const dir = Deno.makeTempDirSync();
  try {
    const opened = FfiBackend.open(dir);
    if ("reason" in opened) return opened.reason;
    opened.backend.close();
    return null;
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
})();
if (ffiSkip !== null) console.log(`skipping the direct-I/O crash test: ${ffiSkip}`);
Deno.test({
  name: "Wal[ffi] loses no acknowledged append across SIGKILLs",
  ignore: ffiSkip !== null,
  fn: () => crashTest("ffi"),
});
