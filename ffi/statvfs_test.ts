import assert from "node:assert/strict";
import { filesystemSpace } from "./statvfs.ts";
import { OsCallError } from "./libc.ts";

Deno.test("filesystemSpace matches df for /tmp and fails clearly on a missing path", () => {
  const space = filesystemSpace("/tmp");
  if (space === null) return; // no glibc here: the broker then skips the check, as this does
  const df = new Deno.Command("df", { args: ["-B1", "--output=size,avail", "/tmp"] }).outputSync();
  const [size, avail] = new TextDecoder().decode(df.stdout).trim().split("\n")[1]!.trim()
    .split(/\s+/).map(Number);
  assert.equal(space.totalBytes, size);
  // Other processes write meanwhile: within 64 MiB.
  assert.ok(
    Math.abs(space.availableBytes - avail!) < 64 * 1024 * 1024,
    `${space.availableBytes} vs ${avail}`,
  );
  assert.throws(() => filesystemSpace("/no/such/dir"), OsCallError);
});
