/**
 * Starts `rustmq standalone` as a real child process for interop tests, on free ports, and
 * reads the ports it bound from its ready line.
 *
 * @module
 */

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A running standalone child process. */
export interface StandaloneProcess extends AsyncDisposable {
  readonly dataDir: string;
  readonly kafkaPort: number;
  readonly quicPort: number | null;
  readonly httpPort: number;
  /** `127.0.0.1:<kafkaPort>` */
  readonly bootstrap: string;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
  /** SIGKILL. */
  kill(): Promise<number>;
  /** Sends `signal` (SIGHUP re-reads the configuration). */
  signal(signal: Deno.Signal): void;
  /** The broker.toml the process was started with (rewrite it, then SIGHUP). */
  readonly configPath: string;
  /** Resolves with the exit code when the process exits by itself. */
  exited(): Promise<number>;
}

/** Options of {@linkcode startStandalone}. */
export interface StartStandaloneOptions {
  /** Extra broker.toml text (the listen addresses are set to free loopback ports). */
  readonly config?: string;
  /**
   * Reuse a data directory (restarts); the caller keeps it. @default a new temporary directory,
   * removed when the process is disposed
   */
  readonly dataDir?: string;
  /** Bounded wait for the ready line. @default 30000 */
  readonly readyTimeoutMs?: number;
  /** Extra environment, e.g. RUSTMQ_FAILPOINTS. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Starts standalone and waits until it is ready. */
export async function startStandalone(
  options: StartStandaloneOptions = {},
): Promise<StandaloneProcess> {
  const ownsDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "rustmq-sa-" });
  const cfgPath = `${dataDir}.toml`;
  await Deno.writeTextFile(
    cfgPath,
    [
      "[network]",
      'kafka_listen = "127.0.0.1:0"',
      'quic_listen = "127.0.0.1:0"',
      'http_listen = "127.0.0.1:0"',
      options.config ?? "",
    ].join("\n") + "\n",
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--unstable-net",
      MAIN,
      "standalone",
      "--data",
      dataDir,
      "--config",
      cfgPath,
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: { NO_COLOR: "1", RUSTMQ_LOG_LEVEL: "info", ...options.env },
  }).spawn();
  let errText = "";
  const dec = new TextDecoder();
  (async () => {
    for await (const chunk of child.stderr) errText += dec.decode(chunk);
  })();
  const ready = await _readyLine(child, options.readyTimeoutMs ?? 30_000, () => errText)
    .catch(async (err) => {
      await child.status;
      await Deno.remove(cfgPath).catch(() => {});
      if (ownsDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
      throw err;
    });
  const port = (re: RegExp) => {
    const m = re.exec(ready);
    return m ? Number(m[1]) : null;
  };
  const kafkaPort = port(/kafka tcp:\/\/[^:]+:(\d+)/)!;
  let status: Promise<Deno.CommandStatus> | null = null;
  const wait = () => (status ??= child.status);
  const stop = async (graceMs = 5000) => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, graceMs);
    const s = await wait();
    clearTimeout(timer);
    return s.code;
  };
  const kill = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    return (await wait()).code;
  };
  return {
    dataDir,
    kafkaPort,
    quicPort: port(/quic:\/\/[^:]+:(\d+)/),
    httpPort: port(/http:\/\/[^:]+:(\d+)/)!,
    bootstrap: `127.0.0.1:${kafkaPort}`,
    stderr: () => errText,
    stop,
    kill,
    signal: (s) => child.kill(s),
    configPath: cfgPath,
    exited: async () => (await wait()).code,
    [Symbol.asyncDispose]: async () => {
      await stop();
      await Deno.remove(cfgPath).catch(() => {});
      if (ownsDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

async function _readyLine(
  child: Deno.ChildProcess,
  timeoutMs: number,
  err: () => string,
): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = setTimeout(() => reader.cancel("timeout"), timeoutMs);
  try {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    clearTimeout(deadline);
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch { /* closed */ }
  })();
  if (!text.includes("is ready")) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    throw new Error(`standalone did not become ready within ${timeoutMs} ms:\n${text}\n${err()}`);
  }
  return text;
}
