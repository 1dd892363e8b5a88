import assert from "node:assert/strict";
import { AlignedBuffer } from "./aligned_buffer.ts";
import { DirectFile } from "./direct_file.ts";
import { directIoSetup } from "./ffi_test_support.ts";
import { IoUring } from "./io_uring.ts";

const setup = directIoSetup();
const ring = "skip" in setup ? null : IoUring.create(setup.libc, 8);
const skip = "skip" in setup
  ? setup.skip
  : ring === null
  ? "liburing.so.2 is missing or io_uring_queue_init failed"
  : null;
if (skip !== null) console.log(`skipping io_uring tests: ${skip}`);

Deno.test({
  name: "IoUring completes several writes in flight with their tags",
  ignore: skip !== null,
  async fn() {
    if ("skip" in setup || ring === null) return;
    const file = DirectFile.open(setup.libc, `${setup.dir}/ring`);
    const buffers = [0, 1, 2, 3].map((i) => {
      const buffer = AlignedBuffer.allocate(setup.libc, 65536);
      buffer.bytes.fill(i + 1);
      return buffer;
    });
    try {
      buffers.forEach((buffer, i) => {
        assert.equal(ring.submitWrite(file.fd, buffer, 65536, i * 65536, BigInt(100 + i)), true);
      });
      const seen = new Map<bigint, number>();
      while (seen.size < 4) {
        for (const c of await ring.waitCompletions()) seen.set(c.userData, c.result);
      }
      assert.deepEqual([...seen.keys()].sort(), [100n, 101n, 102n, 103n]);
      assert.ok([...seen.values()].every((result) => result === 65536));
      const back = await Deno.readFile(`${setup.dir}/ring`);
      assert.deepEqual([back[0], back[65536], back[131072], back[196608 + 65535]], [1, 2, 3, 4]);
    } finally {
      buffers.forEach((buffer) => buffer[Symbol.dispose]());
      file.close();
    }
  },
});

Deno.test({
  name: "IoUring reports a failed write as a negative errno",
  ignore: skip !== null,
  async fn() {
    if ("skip" in setup || ring === null) return;
    const file = DirectFile.open(setup.libc, `${setup.dir}/bad`);
    using buffer = AlignedBuffer.allocate(setup.libc, 4096);
    try {
      ring.submitWrite(file.fd, buffer, 100, 0, 7n); // unaligned length under O_DIRECT
      const [completion] = await ring.waitCompletions();
      assert.deepEqual(completion, { userData: 7n, result: -22 });
    } finally {
      file.close();
      ring.close();
      Deno.removeSync(setup.dir, { recursive: true });
    }
  },
});
