/**
 * Starts a real `s3rver` (S3-compatible server, npm `s3rver@3.7.1`) in a child process for
 * tests of `S3ObjectStore`.
 *
 * s3rver needs `--unsafe-proto` under Deno, which the test process itself must not run with,
 * so it runs `tests/support/s3rver_main.ts` as its own `deno run` process on a port the kernel
 * picks, in a fresh temporary directory.
 *
 * @module
 */

/** A running s3rver. */
export interface S3rverHandle {
  /** "http://127.0.0.1:PORT", for `S3ObjectStore`'s `endpoint` with `forcePathStyle: true`. */
  endpoint: string;
  /** The bucket created at startup. */
  bucket: string;
  /** s3rver accepts any signature; these are the conventional values. */
  accessKeyId: string;
  /** Goes with `accessKeyId`. */
  secretAccessKey: string;
  /** Kills the server and removes its directory. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startS3rver}. */
export interface StartS3rverOptions {
  /**
   * The bucket to create (3 or more characters).
   * @default {"rustmq-test"}
   */
  bucket?: string;
  /**
   * How long to wait for the server to print its port.
   * @default {30000}
   */
  startTimeoutMs?: number;
}

/**
 * Starts s3rver and resolves once it listens.
 *
 * @example
 * ```ts ignore
 * const s3 = await startS3rver();
 * try { console.log(s3.endpoint, s3.bucket); } finally { await s3.stop(); }
 * ```
 */
export async function startS3rver(options: StartS3rverOptions = {}): Promise<S3rverHandle> {
  const bucket = options.bucket ?? "rustmq-test";
  const directory = await Deno.makeTempDir({ prefix: "rustmq-s3rver-" });
  const script = new URL("./s3rver_main.ts", import.meta.url).pathname;
  const projectRoot = new URL("../../", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--unsafe-proto", "--quiet", script, directory, bucket],
    cwd: projectRoot,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    // Closing stdin asks the child to exit; the kill covers a wedged child.
    await child.stdin.close().catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await Deno.remove(directory, { recursive: true }).catch(() => {});
  };
  try {
    const port = await _readPort(child.stdout, options.startTimeoutMs ?? 30_000);
    return {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Reads the `{"port":N}` line, then keeps draining stdout so the child never blocks on it. */
async function _readPort(stdout: ReadableStream<Uint8Array>, timeoutMs: number): Promise<number> {
  const lines = stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`Cannot start s3rver as it did not report a port in ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    for (;;) {
      const { value, done } = await Promise.race([lines.read(), timeout]);
      if (done) throw new Error("Cannot start s3rver as it exited before reporting a port");
      buffered += value;
      const newline = buffered.indexOf("\n");
      if (newline < 0) continue;
      const { port } = JSON.parse(buffered.slice(0, newline)) as { port: number };
      // Drain the rest in the background; it ends when the child exits.
      (async () => {
        while (!(await lines.read()).done) { /* discard */ }
      })().catch(() => {});
      return port;
    }
  } finally {
    clearTimeout(timer);
  }
}
