/**
 * Runs controllers as real child processes (`deno run main.ts controller --config F`) on
 * loopback ports with temporary data directories, for the multi-process controller tests.
 *
 * @module
 */

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Ports that were free a moment ago (bound, then released). */
export function freePorts(n: number): number[] {
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

/** One controller's addresses and files. */
export interface ControllerSpec {
  id: string;
  raftPort: number;
  rpcPort: number;
  httpPort: number;
  dataDir: string;
  configPath: string;
}

/** Options of {@linkcode writeClusterConfigs}. */
export interface ClusterConfigOptions {
  size: number;
  electionTimeoutMs: number;
  heartbeatIntervalMs: number;
  snapshotEntries: number;
  brokerLeaseMs: number;
  /** Where the configs and data directories go. @default a new temporary directory */
  dir?: string;
  /** Further controller.toml lines, appended (each in a `[section]` of its own). */
  extraLines?: readonly string[];
}

/**
 * Writes one controller.toml per node into `options.dir`, or into a new temporary directory
 * that the caller removes (it is the parent of every spec's `dataDir`).
 */
export async function writeClusterConfigs(
  options: ClusterConfigOptions,
): Promise<ControllerSpec[]> {
  const root = options.dir ?? await Deno.makeTempDir({ prefix: "rustmq-ctl-" });
  const ports = freePorts(options.size * 3);
  const specs = Array.from({ length: options.size }, (_, i) => ({
    id: `controller-${i + 1}`,
    raftPort: ports[i * 3]!,
    rpcPort: ports[i * 3 + 1]!,
    httpPort: ports[i * 3 + 2]!,
    dataDir: `${root}/controller-${i + 1}`,
    configPath: `${root}/controller-${i + 1}.toml`,
  }));
  const peers = specs.map((s) => `"${s.id}@127.0.0.1:${s.raftPort}"`).join(", ");
  for (const s of specs) {
    await Deno.writeTextFile(
      s.configPath,
      [
        "[controller]",
        `node_id = "${s.id}"`,
        `raft_listen = "127.0.0.1:${s.raftPort}"`,
        `rpc_listen = "127.0.0.1:${s.rpcPort}"`,
        `http_listen = "127.0.0.1:${s.httpPort}"`,
        `data_dir = "${s.dataDir}"`,
        `snapshot_entries = ${options.snapshotEntries}`,
        `broker_lease_ms = ${options.brokerLeaseMs}`,
        "[raft]",
        `peers = [${peers}]`,
        `election_timeout_ms = ${options.electionTimeoutMs}`,
        `heartbeat_interval_ms = ${options.heartbeatIntervalMs}`,
        // Harnesses poll the REST API far faster than the default per-IP budget (30/min).
        "[admin.rate_limiting]",
        "enabled = false",
        ...(options.extraLines ?? []),
        "",
      ].join("\n"),
    );
  }
  return specs;
}

/** A controller child process. */
export class ControllerProcess {
  readonly spec: ControllerSpec;
  readonly #child: Deno.ChildProcess;
  #stderr = "";
  readonly #done: Promise<unknown>;

  private constructor(spec: ControllerSpec, child: Deno.ChildProcess) {
    this.spec = spec;
    this.#child = child;
    const dec = new TextDecoder();
    this.#done = (async () => {
      for await (const chunk of child.stderr) this.#stderr += dec.decode(chunk);
    })();
  }

  /** Spawns the controller; it is ready once {@linkcode waitHttp} resolves. */
  static spawn(spec: ControllerSpec): ControllerProcess {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--unstable-net",
        MAIN,
        "controller",
        "--config",
        spec.configPath,
      ],
      stdout: "null",
      stderr: "piped",
      stdin: "null",
      env: { NO_COLOR: "1", RUSTMQ_LOG_LEVEL: "info" },
    }).spawn();
    return new ControllerProcess(spec, child);
  }

  /** The REST base URL. */
  get url(): string {
    return `http://127.0.0.1:${this.spec.httpPort}`;
  }

  /** Everything written to stderr so far (JSON log lines). */
  stderr(): string {
    return this.#stderr;
  }

  /** SIGTERM (a graceful stop) and wait for the exit; resolves with the exit code. */
  async terminate(): Promise<number> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    const { code } = await this.#child.status;
    await this.#done;
    return code;
  }

  /** SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await this.#child.status;
    await this.#done;
  }
}

/** Polls `fn` until it returns a non-undefined value or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  fn: () => Promise<T | undefined>,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown = null;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastErr });
}

/** GETs JSON from a controller, with a short deadline. */
export async function getJson(url: string, timeoutMs = 1000): Promise<Record<string, unknown>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const body = await res.json();
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}
