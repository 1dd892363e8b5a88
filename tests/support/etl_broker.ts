/**
 * Test support for WebAssembly ETL: a broker started in-process the way `rustmq standalone`
 * starts it (an embedded controller, so the module registry and the REST API exist), and small
 * REST and record helpers.
 *
 * @module
 */

import { Broker } from "../../broker/broker.ts";
import { embeddedClusterBinding, standaloneDefaults } from "../../broker/standalone_cmd.ts";
import { loadBrokerConfig } from "../../config/load.ts";
import { createLogger } from "../../ops/logger.ts";
import { buildBatch, decodeRecords } from "../../protocol/record/record_batch.ts";

/** A standalone-like broker; disposing closes it and, unless `dir` was given, removes its data. */
export interface EtlTestBroker extends AsyncDisposable {
  readonly broker: Broker;
  readonly dir: string;
  readonly port: number;
  /** `http://127.0.0.1:PORT` of the operations port (REST API, /metrics). */
  readonly http: string;
  /** One REST call; the answer's status and JSON body. */
  rest(method: string, path: string, body?: unknown): Promise<{ status: number; json: _Json }>;
  /** Deploys `wasm` as `name` through the REST API. */
  deploy(name: string, wasm: Uint8Array): Promise<_Json>;
}

type _Json = Record<string, unknown>;

/** Starts a broker with `config` (TOML) over the standalone defaults, on free ports. */
export async function startEtlBroker(config = "", dir?: string): Promise<EtlTestBroker> {
  const dataDir = dir ?? await Deno.makeTempDir({ prefix: "rustmq-etl-" });
  const level = Deno.env.get("RUSTMQ_TEST_LOG") as "debug" | undefined;
  const logger = createLogger("test", level ? { level } : { sink: () => {} });
  let broker: Broker;
  try {
    const cfg = loadBrokerConfig("test.toml", {
      text: `[network]\nkafka_listen = "127.0.0.1:0"\nhttp_listen = "127.0.0.1:0"\n${config}`,
      env: {},
      base: standaloneDefaults(dataDir),
    });
    broker = await Broker.start(cfg, {
      dataDir,
      logger,
      replicationListener: false,
      cluster: (self) => embeddedClusterBinding(self, dataDir, logger),
    });
  } catch (err) {
    if (dir === undefined) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    throw err;
  }
  const http = `http://127.0.0.1:${broker.addrs.http!.port}`;
  const rest = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${http}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: await res.json() as _Json };
  };
  const deploy = async (name: string, wasm: Uint8Array) => {
    const res = await fetch(`${http}/api/v1/wasm/modules`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream", "x-module-name": name },
      body: wasm as Uint8Array<ArrayBuffer>,
    });
    const json = await res.json() as _Json;
    if (res.status !== 201) {
      throw new Error(`deploy ${name}: ${res.status} ${JSON.stringify(json)}`);
    }
    return json;
  };
  return {
    broker,
    dir: dataDir,
    port: broker.addrs.kafka.port,
    http,
    rest,
    deploy,
    async [Symbol.asyncDispose]() {
      await broker.close();
      if (dir === undefined) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

const _enc = new TextEncoder();
const _dec = new TextDecoder();

/** A batch of `values` (keys `k0`, `k1`, ...), optionally idempotent. */
export function valuesBatch(
  values: string[],
  producer: { producerId: number; producerEpoch: number; baseSequence: number } | null = null,
): Promise<Uint8Array> {
  return buildBatch(
    values.map((v, i) => ({
      key: _enc.encode(`k${i}`),
      value: _enc.encode(v),
      timestamp: 1000 + i,
    })),
    producer ?? {},
  );
}

/** Every record stored in partition 0 of `topic`: offset, value and headers as text. */
export async function storedRecords(
  broker: Broker,
  topic: string,
  partition = 0,
): Promise<{ offset: number; value: string | null; headers: Record<string, string> }[]> {
  const out: { offset: number; value: string | null; headers: Record<string, string> }[] = [];
  // One read stops at an object or cache boundary: read on until the high watermark.
  for (let next = 0, hw = 1; next < hw;) {
    const read = await broker.partitions.read(topic, partition, next, 16 * 1024 * 1024);
    hw = read.highWatermark;
    if (read.batches.length === 0) break;
    for (const b of read.batches) {
      const { header, records } = await decodeRecords(b);
      next = header.lastOffset + 1;
      for (const r of records) {
        out.push({
          offset: r.offset,
          value: r.value === null ? null : _dec.decode(r.value),
          headers: Object.fromEntries(
            r.headers.map((h) => [h.key, h.value === null ? "" : _dec.decode(h.value)]),
          ),
        });
      }
    }
  }
  return out;
}

/** Waits until the broker hosts and leads partition 0 of `topic`. */
export async function waitLeader(b: { broker: Broker }, topic: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (b.broker.partitions.get(topic, 0)?.role === "leader") return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`partition ${topic}/0 never got a leader`);
}
