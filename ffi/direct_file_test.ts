import assert from "node:assert/strict";
import { AlignedBuffer, DIRECT_IO_ALIGNMENT } from "./aligned_buffer.ts";
import { DirectFile } from "./direct_file.ts";
import { directIoSetup } from "./ffi_test_support.ts";
import { OsCallError } from "./libc.ts";

const setup = directIoSetup();
if ("skip" in setup) console.log(`skipping direct-I/O tests: ${setup.skip}`);
const ignore = "skip" in setup;

Deno.test({
  name: "AlignedBuffer hands out zeroed memory on a 4096-byte boundary",
  ignore,
  fn() {
    if ("skip" in setup) return;
    using buffer = AlignedBuffer.allocate(setup.libc, 5000);
    assert.equal(buffer.bytes.length, 8192);
    assert.equal(
      BigInt(Deno.UnsafePointer.value(buffer.pointer)) % BigInt(DIRECT_IO_ALIGNMENT),
      0n,
    );
    assert.ok(buffer.bytes.every((b) => b === 0));
    assert.throws(() => AlignedBuffer.allocate(setup.libc, 0), RangeError);
  },
});

Deno.test({
  name: "DirectFile writes aligned blocks durably and preallocates",
  ignore,
  async fn() {
    if ("skip" in setup) return;
    const path = `${setup.dir}/a`;
    const file = DirectFile.open(setup.libc, path);
    try {
      assert.equal(file.preallocate(1 << 20), true);
      assert.equal((await Deno.stat(path)).size, 1 << 20);
      using buffer = AlignedBuffer.allocate(setup.libc, 8192);
      buffer.bytes.fill(0xab);
      await file.pwrite(buffer, 8192, 4096);
      await file.datasync();
      const back = await Deno.readFile(path);
      assert.equal(back[4095], 0);
      assert.equal(back[4096], 0xab);
      assert.equal(back[12287], 0xab);
      assert.equal(back[12288], 0);
    } finally {
      file.close();
    }
  },
});

Deno.test({
  name: "DirectFile reports an unaligned write as a typed EINVAL",
  ignore,
  async fn() {
    if ("skip" in setup) return;
    const file = DirectFile.open(setup.libc, `${setup.dir}/b`);
    try {
      using buffer = AlignedBuffer.allocate(setup.libc, 4096);
      await assert.rejects(file.pwrite(buffer, 100, 0), (error: unknown) => {
        assert.ok(error instanceof OsCallError);
        assert.equal(error.code, "EINVAL");
        assert.equal(error.retriable, false);
        return true;
      });
    } finally {
      file.close();
    }
  },
});

Deno.test({
  name: "DirectFile.supported cleans up its probe",
  ignore,
  fn() {
    if ("skip" in setup) return;
    assert.equal(DirectFile.supported(setup.libc, setup.dir), true);
    assert.ok(![...Deno.readDirSync(setup.dir)].some((e) => e.name.includes("probe")));
    Deno.removeSync(setup.dir, { recursive: true });
  },
});
