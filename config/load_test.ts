import assert from "node:assert/strict";
import {
  ConfigError,
  type ConfigProblem,
  editDistance,
  loadBrokerConfig,
  loadControllerConfig,
} from "./load.ts";
import { examples, withReference } from "./render_example.ts";

function problemsOf(text: string, env: Record<string, string> = {}): ConfigProblem[] {
  try {
    loadBrokerConfig("broker.toml", { text, env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
  assert.fail("expected a ConfigError");
}

Deno.test("loadBrokerConfig fills every default from the seed reference", () => {
  const cfg = loadBrokerConfig("empty.toml", { text: "", env: {} });
  assert.equal(cfg.broker.id, "broker-001");
  assert.equal(cfg.network.quic_listen, "0.0.0.0:9092");
  assert.equal(cfg["network.quic_config"].max_stream_data, 1024000);
  assert.equal(cfg.wal.capacity_bytes, 10737418240);
  assert.equal(cfg.cache.eviction_policy, "Lru");
  assert.equal(cfg.object_storage.storage_type, "S3");
  assert.deepEqual(cfg.controller.endpoints, [
    "controller-1:9094",
    "controller-2:9094",
    "controller-3:9094",
  ]);
  assert.equal(cfg.scaling.traffic_migration_rate, 0.1);
  assert.equal(cfg["operations.kubernetes"].wal_volume_size, "50Gi");
});

Deno.test("loadBrokerConfig suggests the nearest key for a misspelt one", () => {
  const problems = problemsOf("[wal]\nfsync_on_wirte = true\n");
  assert.equal(problems.length, 1);
  assert.equal(problems[0]!.key, "wal.fsync_on_wirte");
  assert.equal(problems[0]!.file, "broker.toml");
  assert.equal(problems[0]!.value, "true");
  assert.match(problems[0]!.reason, /unknown key; did you mean 'fsync_on_write'\?/);
});

Deno.test("loadBrokerConfig suggests a section for a misspelt section", () => {
  const problems = problemsOf("[replicaton]\nack_timeout_ms = 10\n");
  assert.equal(problems.length, 1);
  assert.match(problems[0]!.reason, /unknown section; did you mean '\[replication\]'\?/);
});

Deno.test("loadBrokerConfig reports wrong types, ranges and enums all at once", () => {
  const problems = problemsOf(
    [
      "[wal]",
      'capacity_bytes = "big"',
      "segment_size_bytes = 12",
      'io_backend = "spinning-rust"',
      "[network]",
      "max_connections = 0",
      "[scaling]",
      "traffic_migration_rate = 1.5",
      "[controller]",
      'endpoints = "c1:9094"',
    ].join("\n"),
  );
  const byKey = new Map(problems.map((p) => [p.key, p]));
  assert.equal(problems.length, 6, JSON.stringify(problems));
  assert.match(byKey.get("wal.capacity_bytes")!.reason, /expected an integer, got a string/);
  assert.match(byKey.get("wal.segment_size_bytes")!.reason, /must be at least 65536/);
  assert.match(byKey.get("wal.io_backend")!.reason, /expected one of "auto", "ffi", "portable"/);
  assert.match(byKey.get("network.max_connections")!.reason, /must be at least 1/);
  assert.match(byKey.get("scaling.traffic_migration_rate")!.reason, /must be at most 1/);
  assert.match(byKey.get("controller.endpoints")!.reason, /expected an array of strings/);
});

Deno.test("loadBrokerConfig rejects contradictions between keys", () => {
  const problems = problemsOf(
    [
      "[replication]",
      "min_in_sync_replicas = 3",
      "default_replication_factor = 2",
      "[cache]",
      "write_cache_size_bytes = 1048576",
      "[wal]",
      "segment_size_bytes = 2097152",
      "capacity_bytes = 2097152",
      "[object_storage]",
      'access_key = "only-half"',
    ].join("\n"),
  );
  const keys = problems.map((p) => p.key).sort();
  assert.deepEqual(keys, [
    "cache.write_cache_size_bytes",
    "object_storage.secret_key",
    "replication.min_in_sync_replicas",
    "wal.capacity_bytes",
  ]);
  const minIsr = problems.find((p) => p.key === "replication.min_in_sync_replicas")!;
  assert.match(minIsr.reason, /cannot exceed replication.default_replication_factor \(2\)/);
  assert.match(
    problems.find((p) => p.key === "cache.write_cache_size_bytes")!.reason,
    /smaller than one WAL segment/,
  );
});

Deno.test("loadBrokerConfig reports invalid TOML with its position", () => {
  const problems = problemsOf("[wal\npath = 1\n");
  assert.equal(problems.length, 1);
  assert.match(problems[0]!.reason, /invalid TOML/);
});

Deno.test("loadBrokerConfig substitutes ${VAR} and ${VAR:-default} before parsing", () => {
  const cfg = loadBrokerConfig("k8s.toml", {
    text: [
      "[broker]",
      'id = "${POD_NAME}"',
      'rack_id = "${ZONE:-zone-a}"',
      "[network]",
      "max_connections = ${MAX_CONN}",
    ].join("\n"),
    env: { POD_NAME: "rustmq-broker-2", MAX_CONN: "42" },
  });
  assert.equal(cfg.broker.id, "rustmq-broker-2");
  assert.equal(cfg.broker.rack_id, "zone-a");
  assert.equal(cfg.network.max_connections, 42);
});

Deno.test("loadBrokerConfig reports an unset ${VAR} without a default", () => {
  const problems = problemsOf('[broker]\nid = "${NOPE_NOT_SET}"\n');
  assert.equal(problems.length, 1);
  assert.match(problems[0]!.reason, /environment variable NOPE_NOT_SET is not set/);
});

Deno.test("loadBrokerConfig applies every RUSTMQ_* environment override over the file", () => {
  const cfg = loadBrokerConfig("b.toml", {
    text: '[broker]\nid = "from-file"\n',
    env: {
      RUSTMQ_BROKER_ID: "from-env",
      RUSTMQ_RACK_ID: "rack-9",
      RUSTMQ_LOG_LEVEL: "debug",
      RUSTMQ_WAL_PATH: "/mnt/wal",
      RUSTMQ_STORAGE_BUCKET: "bucket-x",
      RUSTMQ_STORAGE_REGION: "eu-west1",
      RUSTMQ_CACHE_SIZE: "4294967296",
      RUSTMQ_MAX_CONNECTIONS: "77",
      RUSTMQ_BATCH_SIZE: "500",
    },
  });
  assert.equal(cfg.broker.id, "from-env");
  assert.equal(cfg.broker.rack_id, "rack-9");
  assert.equal(cfg.broker.log_level, "debug");
  assert.equal(cfg.wal.path, "/mnt/wal");
  assert.equal(cfg.object_storage.bucket, "bucket-x");
  assert.equal(cfg.object_storage.region, "eu-west1");
  assert.equal(cfg.cache.read_cache_size_bytes, 4294967296);
  assert.equal(cfg.network.max_connections, 77);
  assert.equal(cfg.etl.batch_size, 500);
});

Deno.test("loadBrokerConfig names the environment variable of a bad override", () => {
  const problems = problemsOf("", { RUSTMQ_MAX_CONNECTIONS: "lots", RUSTMQ_LOG_LEVEL: "loud" });
  assert.equal(problems.length, 2);
  const conn = problems.find((p) => p.key === "network.max_connections")!;
  assert.equal(conn.file, "<env RUSTMQ_MAX_CONNECTIONS>");
  assert.equal(conn.value, "lots");
  assert.match(conn.reason, /expected an integer/);
});

Deno.test("loadControllerConfig checks peers and Raft timing", () => {
  assert.throws(
    () =>
      loadControllerConfig("c.toml", {
        text: '[raft]\npeers = ["a@h:1", "a@h:2", "bad"]\nheartbeat_interval_ms = 6000\n',
        env: {},
      }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const reasons = err.problems.map((p) => p.reason).join("\n");
      assert.match(reasons, /names a node_id twice/);
      assert.match(reasons, /expected node_id@host:port/);
      assert.match(reasons, /must be below raft.election_timeout_ms/);
      return true;
    },
  );
  const cfg = loadControllerConfig("c.toml", {
    text: "[autobalancer]\nenabled = false\n",
    env: {},
  });
  assert.equal(cfg.autobalancer.enabled, false);
  assert.equal(cfg.controller.data_dir, "./data/controller");
  assert.equal(cfg.admin.port, 9642);
});

Deno.test("config example files are valid and equal to the schema's rendering", async () => {
  for (const [name, text] of Object.entries(examples())) {
    const onDisk = await Deno.readTextFile(new URL(name, import.meta.url));
    assert.equal(onDisk, text, `config/${name} is stale: run deno run -A config/render_example.ts`);
  }
  loadBrokerConfig("broker.toml", { text: examples()["broker.toml"]!, env: {} });
  loadControllerConfig("controller.toml", { text: examples()["controller.toml"]!, env: {} });
});

Deno.test("editDistance counts a transposition as one edit", () => {
  assert.equal(editDistance("wirte", "write"), 1);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("kitten", "sitting"), 3);
});

Deno.test("README configuration reference is equal to the schema's rendering", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  assert.equal(
    withReference(readme),
    readme,
    "README is stale: run deno run -A config/render_example.ts",
  );
});

Deno.test("substituteEnv leaves comment lines alone", () => {
  const cfg = loadBrokerConfig("c.toml", {
    text: '# ${UNSET_IN_A_COMMENT} is documentation\n[broker]\nid = "${ID}"\n',
    env: { ID: "b-7" },
  });
  assert.equal(cfg.broker.id, "b-7");
});

Deno.test("loadBrokerConfig accepts object_storage.type as the seed's name for storage_type", () => {
  const cfg = loadBrokerConfig("k8s.toml", {
    text: '[object_storage]\ntype = "Gcs"\nbucket = "b"\n',
    env: {},
  });
  assert.equal(cfg.object_storage.storage_type, "Gcs");
  assert.throws(
    () =>
      loadBrokerConfig("k8s.toml", {
        text: '[object_storage]\ntype = "Gcs"\nstorage_type = "S3"\n',
        env: {},
      }),
    /object_storage\.type = "Gcs": is another name for object_storage\.storage_type/,
  );
  assert.throws(
    () => loadBrokerConfig("k8s.toml", { text: '[object_storage]\ntype = "Nfs"\n', env: {} }),
    /object_storage\.storage_type = "Nfs": expected one of/,
  );
});
