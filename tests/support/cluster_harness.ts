/**
 * A real cluster for tests: 3 controllers and N brokers, each a separate `rustmq` process on
 * loopback with its own temporary directories, sharing one local directory as the object store
 * (standing in for a bucket). Brokers can be killed (SIGKILL), paused (SIGSTOP), resumed and
 * restarted on the same ports and data; every wait is bounded.
 *
 * @module
 */

import {
  ControllerProcess,
  freePorts,
  getJson,
  waitFor,
  writeClusterConfigs,
} from "./controller_cluster.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Options of {@linkcode Cluster.start}. */
export interface ClusterOptions {
  readonly brokers: number;
  /** Extra broker.toml lines per section, e.g. `{ wal: ["upload_interval_ms = 500"] }`. */
  readonly brokerConfig?: Readonly<Record<string, readonly string[]>>;
  /** Broker lease on the controllers. @default 3000 */
  readonly brokerLeaseMs?: number;
  /** Bounded wait for the cluster to come up. @default 60000 */
  readonly startTimeoutMs?: number;
  /** Controllers in the quorum; 1 keeps a test light. @default 3 */
  readonly controllers?: number;
  /** Further controller.toml lines, e.g. `["[scaling]", "traffic_migration_rate = 0"]`. */
  readonly controllerConfig?: readonly string[];
}

/** One broker process and its fixed ports. */
export class BrokerProcess {
  readonly id: number;
  readonly kafkaPort: number;
  readonly rpcPort: number;
  readonly httpPort: number;
  readonly configPath: string;
  readonly dataDir: string;
  #child: Deno.ChildProcess | null = null;
  #stderr = "";
  /** The "is ready" line the broker printed, naming its listeners. */
  readyLine = "";
  #paused = false;

  constructor(id: number, ports: number[], configPath: string, dataDir: string) {
    this.id = id;
    [this.kafkaPort, this.rpcPort, this.httpPort] = ports as [number, number, number];
    this.configPath = configPath;
    this.dataDir = dataDir;
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.kafkaPort}`;
  }

  get running(): boolean {
    return this.#child !== null;
  }

  stderr(): string {
    return this.#stderr;
  }

  /** Starts the process and waits (bounded) for its ready line. */
  async start(timeoutMs = 30_000): Promise<void> {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--unstable-net",
        MAIN,
        "broker",
        "--config",
        this.configPath,
        "--data-dir",
        `${this.dataDir}/state`,
      ],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
      env: { NO_COLOR: "1", RUSTMQ_LOG_LEVEL: Deno.env.get("RUSTMQ_TEST_BROKER_LOG") ?? "info" },
    }).spawn();
    this.#child = child;
    const dec = new TextDecoder();
    (async () => {
      for await (const chunk of child.stderr) this.#stderr += dec.decode(chunk);
    })().catch(() => {});
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const timer = setTimeout(() => reader.cancel("timeout").catch(() => {}), timeoutMs);
    try {
      while (!text.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
    } finally {
      clearTimeout(timer);
    }
    (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })().catch(() => {});
    this.readyLine = text;
    if (!text.includes("is ready")) {
      await this.kill();
      throw new Error(`broker ${this.id} did not start:\n${text}\n${this.#stderr.slice(-3000)}`);
    }
  }

  /** SIGKILL, then wait for the exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    if (this.#paused) this.resume();
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    this.#child = null;
  }

  /** SIGSTOP: the process stops answering but keeps its sockets (a partitioned node). */
  pause(): void {
    this.#child?.kill("SIGSTOP");
    this.#paused = true;
  }

  /** SIGCONT. */
  resume(): void {
    this.#child?.kill("SIGCONT");
    this.#paused = false;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    if (this.#paused) this.resume();
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, graceMs);
    await child.status;
    clearTimeout(timer);
    this.#child = null;
  }
}

/** Three controllers and N brokers. */
export class Cluster implements AsyncDisposable {
  readonly controllers: ControllerProcess[];
  readonly brokers: BrokerProcess[];
  readonly root: string;
  #options: ClusterOptions = { brokers: 0 };
  #endpoints = "";

  private constructor(root: string, controllers: ControllerProcess[], brokers: BrokerProcess[]) {
    this.root = root;
    this.controllers = controllers;
    this.brokers = brokers;
  }

  /**
   * Adds and starts one more broker (the next id), as scaling out does. `extraConfig` adds to
   * (and overrides) the cluster's broker lines for this broker only.
   */
  async addBroker(
    timeoutMs = 30_000,
    extraConfig: Readonly<Record<string, readonly string[]>> = {},
  ): Promise<BrokerProcess> {
    const b = await this.#newBroker(this.brokers.length + 1, extraConfig);
    this.brokers.push(b);
    await b.start(timeoutMs);
    return b;
  }

  async #newBroker(
    i: number,
    extraConfig: Readonly<Record<string, readonly string[]>> = {},
  ): Promise<BrokerProcess> {
    const ports = freePorts(3);
    const dir = `${this.root}/broker-${i}`;
    await Deno.mkdir(dir, { recursive: true });
    const configPath = `${dir}.toml`;
    await Deno.writeTextFile(
      configPath,
      _brokerToml(i, ports, dir, this.root, this.#endpoints, {
        ...this.#options.brokerConfig,
        ...extraConfig,
      }),
    );
    return new BrokerProcess(i, ports, configPath, dir);
  }

  /** Starts the controllers, waits for a leader, then starts the brokers. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    const root = await Deno.makeTempDir({ prefix: "rustmq-cluster-" });
    const specs = await writeClusterConfigs({
      size: options.controllers ?? 3,
      extraLines: options.controllerConfig ?? [],
      electionTimeoutMs: 1000,
      heartbeatIntervalMs: 100,
      snapshotEntries: 10_000,
      brokerLeaseMs: options.brokerLeaseMs ?? 3000,
      dir: root,
    });
    const controllers = specs.map((s) => ControllerProcess.spawn(s));
    const cluster = new Cluster(root, controllers, []);
    try {
      await cluster.waitForControllerLeader(timeoutMs);
      cluster.#options = options;
      cluster.#endpoints = specs.map((s) => `"127.0.0.1:${s.rpcPort}"`).join(", ");
      for (let i = 1; i <= options.brokers; i++) cluster.brokers.push(await cluster.#newBroker(i));
      await Promise.all(cluster.brokers.map((b) => b.start(timeoutMs)));
      await cluster.waitForBrokers(options.brokers, timeoutMs);
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  /** A controller REST URL that answers (tries each). */
  async adminUrl(): Promise<string> {
    for (const c of this.controllers) {
      try {
        await getJson(`${c.url}/api/v1/cluster/health`, 1000);
        return c.url;
      } catch { /* next */ }
    }
    throw new Error("no controller answers");
  }

  async waitForControllerLeader(timeoutMs: number): Promise<void> {
    await waitFor("a controller leader", timeoutMs, async () => {
      const h = await getJson(`${await this.adminUrl()}/api/v1/cluster/health`);
      return typeof h.leader === "string" && h.leader !== "" ? true : undefined;
    }, 100);
  }

  /** Waits until `count` brokers are registered and unfenced. */
  async waitForBrokers(count: number, timeoutMs: number): Promise<void> {
    await waitFor(`${count} live brokers`, timeoutMs, async () => {
      const b = await getJson(`${await this.adminUrl()}/api/v1/brokers`);
      const up = (b.brokers as { status?: string; fenced?: boolean }[]).filter((x) =>
        x.fenced === false || x.status === "up"
      );
      return up.length >= count ? true : undefined;
    }, 100);
  }

  /** Creates a topic through the admin REST API. */
  async createTopic(
    name: string,
    partitions: number,
    replicationFactor: number,
    configs: Record<string, string> = {},
  ): Promise<void> {
    const res = await fetch(`${await this.adminUrl()}/api/v1/topics`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, partitions, replication_factor: replicationFactor, configs }),
    });
    if (!res.ok) throw new Error(`create topic ${name}: ${res.status} ${await res.text()}`);
  }

  /** The topic as the controller describes it. */
  async topic(name: string): Promise<Record<string, unknown>> {
    return await getJson(`${await this.adminUrl()}/api/v1/topics/${name}`);
  }

  /** Bootstrap list of every running broker. */
  bootstrap(): string[] {
    return this.brokers.filter((b) => b.running).map((b) => b.bootstrap);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.brokers.map((b) => b.stop(3000)));
    await Promise.allSettled(this.controllers.map((c) => c.kill()));
    // RUSTMQ_TEST_LOG_DIR keeps every process's log (JSON lines) for a failure to be read.
    const logDir = Deno.env.get("RUSTMQ_TEST_LOG_DIR");
    if (logDir !== undefined) {
      await Deno.mkdir(logDir, { recursive: true });
      for (const b of this.brokers) {
        await Deno.writeTextFile(`${logDir}/broker-${b.id}.log`, b.stderr());
      }
      for (const [i, c] of this.controllers.entries()) {
        await Deno.writeTextFile(`${logDir}/controller-${i + 1}.log`, c.stderr());
      }
    }
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function _brokerToml(
  i: number,
  ports: number[],
  dir: string,
  root: string,
  endpoints: string,
  extra: Readonly<Record<string, readonly string[]>>,
): string {
  const [kafka, rpc, http] = ports as [number, number, number];
  const sections: Record<string, string[]> = {
    broker: [`id = "broker-${i}"`, `rack_id = "rack-${i}"`, 'advertised_host = "127.0.0.1"'],
    network: [
      `kafka_listen = "127.0.0.1:${kafka}"`,
      `quic_listen = "127.0.0.1:${kafka}"`,
      `rpc_listen = "127.0.0.1:${rpc}"`,
      `http_listen = "127.0.0.1:${http}"`,
    ],
    wal: [
      `path = "${dir}/wal"`,
      "segment_size_bytes = 16777216",
      "capacity_bytes = 268435456",
      "upload_interval_ms = 2000",
    ],
    cache: ["write_cache_size_bytes = 134217728", "read_cache_size_bytes = 67108864"],
    object_storage: ['storage_type = "Local"', `local_path = "${root}/objects"`, 'endpoint = ""'],
    controller: [
      `endpoints = [${endpoints}]`,
      "election_timeout_ms = 1000",
      "heartbeat_interval_ms = 100",
    ],
    replication: [
      "min_in_sync_replicas = 2",
      "default_replication_factor = 3",
      "ack_timeout_ms = 10000",
    ],
  };
  for (const [name, lines] of Object.entries(extra)) {
    // A later line for the same key wins, so overrides replace the generated value.
    const keys = new Set(lines.map((l) => l.split("=")[0]!.trim()));
    sections[name] = [
      ...(sections[name] ?? []).filter((l) => !keys.has(l.split("=")[0]!.trim())),
      ...lines,
    ];
  }
  const out: string[] = [];
  for (const [name, lines] of Object.entries(sections)) out.push(`[${name}]`, ...lines, "");
  return out.join("\n");
}

export { getJson, waitFor };
