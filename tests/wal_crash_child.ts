/**
 * Child process of `wal_crash_test.ts`: opens the WAL (fsync on write), then appends forever from
 * many concurrent writers, printing one line per acknowledged append:
 *
 * ```
 * READY <recovered entries> <torn-tail bytes dropped at recovery>
 * ACK <stream> <offset> <crc32c of payload> <seq>
 * ```
 *
 * The parent kills it with SIGKILL at random moments. Offsets continue after the highest one
 * recovered for each stream, so an offset is never used twice.
 *
 * Usage: `deno run -A tests/wal_crash_child.ts <dir> <portable|ffi> <writers> <seed>`
 *
 * @module
 */
import { Wal } from "../broker/wal/wal.ts";
import { crc32c } from "../protocol/crc32c.ts";

async function main(): Promise<void> {
  const [dir, backend, writersArg, seedArg] = Deno.args;
  if (dir === undefined || (backend !== "portable" && backend !== "ffi")) {
    console.error("Usage: wal_crash_child.ts <dir> <portable|ffi> <writers> <seed>");
    Deno.exit(2);
  }
  const writers = Number(writersArg ?? 16);
  let state = Number(seedArg ?? 1) >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  let droppedBytes = 0;
  const logger = {
    info(message: string, fields?: Record<string, unknown>) {
      if (message === "WAL torn tail truncated") droppedBytes = Number(fields?.droppedBytes ?? 0);
    },
  };
  const { wal, recovered } = await Wal.open({
    path: dir,
    logger,
    backend,
    fsyncOnWrite: true,
    segmentSizeBytes: 4 << 20,
    capacityBytes: 1 << 30,
  });
  const next = new Map<number, bigint>();
  for (const entry of recovered) {
    const seen = next.get(entry.streamId) ?? 0n;
    if (entry.baseOffset + 1n > seen) next.set(entry.streamId, entry.baseOffset + 1n);
  }
  const encoder = new TextEncoder();
  const say = (line: string) => {
    const bytes = encoder.encode(line + "\n");
    let done = 0;
    while (done < bytes.length) done += Deno.stdout.writeSync(bytes.subarray(done));
  };
  say(`READY ${recovered.length} ${droppedBytes}`);

  async function writer(stream: number): Promise<never> {
    for (;;) {
      const offset = next.get(stream) ?? 0n;
      next.set(stream, offset + 1n);
      const payload = new Uint8Array(16 + Math.floor(random() * 2000)).map(() => random() * 256);
      const { seq } = await wal.append(stream, offset, payload);
      say(`ACK ${stream} ${offset} ${crc32c(payload)} ${seq}`);
    }
  }

  await Promise.all(Array.from({ length: writers }, (_, stream) => writer(stream)));
}

if (import.meta.main) await main();
