/**
 * Child-process entry point that runs a real `s3rver` (an S3-compatible server) for tests.
 *
 * s3rver 3.7.1 assigns `__proto__` on plain objects, which Deno forbids unless it is started
 * with `--unsafe-proto`. Tests therefore never import it in their own process: they spawn this
 * script through `startS3rver()` in `s3rver_server.ts`.
 *
 * Usage: `deno run -A --unsafe-proto tests/support/s3rver_main.ts <directory> <bucket>`.
 * It listens on 127.0.0.1 on a port the kernel picks, prints one line
 * `{"port":N}` on stdout when ready, and exits when stdin closes or on SIGTERM.
 *
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES ("des"), which Deno's
 * node:crypto does not offer, so every truncated listing failed with a 500. Triple DES with
 * the key repeated three times is mathematically single DES, so `_shimSingleDes` maps one to
 * the other before the server starts.
 *
 * @module
 */
import crypto from "node:crypto";
import { Buffer } from "node:buffer";
import S3rver from "s3rver";

/** Runs the server until stdin closes; see the module documentation. */
async function _main(): Promise<void> {
  _shimSingleDes();
  const [directory, bucket] = Deno.args;
  if (directory === undefined || bucket === undefined || bucket.length < 3) {
    console.error("Usage: s3rver_main.ts <directory> <bucket (3+ characters)>");
    Deno.exit(2);
  }

  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const address = await server.run();
  console.log(JSON.stringify({ port: address.port }));

  // The parent keeps our stdin open; when it goes away (even by SIGKILL) we stop too, so no
  // orphaned server outlives a crashed test run.
  const sink = new Uint8Array(64);
  while ((await Deno.stdin.read(sink)) !== null) {
    // Nothing is expected on stdin; drain and ignore.
  }
  await server.close();
  Deno.exit(0);
}

// Only as a program: importing this file (e.g. a test runner walking the tree) starts nothing.
if (import.meta.main) await _main();

/** Makes `crypto.createCipheriv("des", key8, iv8)` work as single DES through 3DES (K1=K2=K3). */
function _shimSingleDes(): void {
  type Factory = (algorithm: string, key: Buffer, iv: Buffer) => unknown;
  const target = crypto as unknown as Record<"createCipheriv" | "createDecipheriv", Factory>;
  for (const name of ["createCipheriv", "createDecipheriv"] as const) {
    const original = target[name].bind(crypto);
    target[name] = (algorithm, key, iv) =>
      algorithm === "des" && key.length === 8
        ? original("des-ede3-cbc", Buffer.concat([key, key, key]), iv)
        : original(algorithm, key, iv);
  }
}
