/**
 * Static checks of the deployment files, since no Docker engine or Kubernetes runs here: the
 * cluster configs validate with the environment the manifests give them, and every command the
 * manifests run is a real `rustmq` subcommand with a config file that exists.
 */

import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { loadBrokerConfig, loadControllerConfig } from "../config/load.ts";
import { COMMANDS } from "../main.ts";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, root));
const SUBCOMMANDS = new Set(COMMANDS.map((c) => c.name));

Deno.test("config/cluster-*.toml validate with the environment compose and Kubernetes provide", async () => {
  const broker = loadBrokerConfig("cluster-broker.toml", {
    text: await read("config/cluster-broker.toml"),
    env: {
      RUSTMQ_BROKER_ID: "broker-1",
      RUSTMQ_ADVERTISED_HOST: "localhost",
      RUSTMQ_S3_ACCESS_KEY: "k",
      RUSTMQ_S3_SECRET_KEY: "s",
    },
  });
  assert.equal(broker.broker.id, "broker-1");
  assert.equal(broker.object_storage.storage_type, "S3");
  assert.equal(broker.object_storage.endpoint, "http://minio:9000");
  assert.deepEqual(broker.controller.endpoints, [
    "controller-0:9094",
    "controller-1:9094",
    "controller-2:9094",
  ]);

  const k8sController = loadControllerConfig("cluster-controller.toml", {
    text: await read("config/cluster-controller.toml"),
    env: {
      RUSTMQ_NODE_ID: "controller-1",
      RUSTMQ_CONTROLLER_HOST_PREFIX: "rustmq-controller-",
      RUSTMQ_CONTROLLER_HOST_SUFFIX: ".rustmq-controller",
    },
  });
  assert.equal(k8sController.controller.node_id, "controller-1");
  assert.equal(
    k8sController.raft.peers[2],
    "controller-2@rustmq-controller-2.rustmq-controller:9095",
  );
  assert.ok(
    k8sController.raft.peers.some((p) => p.startsWith(`${k8sController.controller.node_id}@`)),
  );
});

function _commandOf(args: string[]): { sub: string; config: string | undefined } {
  const joined = args.join(" ");
  const m = /rustmq (\w+)/.exec(joined) ?? /^(\w+)/.exec(joined);
  const c = /--config (\S+)/.exec(joined);
  return { sub: m?.[1] ?? "", config: c?.[1] };
}

Deno.test("compose.yaml and k8s/rustmq.yaml run real subcommands with existing config files", async () => {
  const compose = parseYaml(await read("compose.yaml"), { merge: true }) as {
    services: Record<string, { command?: string[] }>;
  };
  const rustmqServices = Object.entries(compose.services).filter(([name]) =>
    /^(controller|broker)-/.test(name)
  );
  assert.equal(rustmqServices.length, 6);
  for (const [name, svc] of rustmqServices) {
    const { sub, config } = _commandOf(svc.command ?? []);
    assert.ok(SUBCOMMANDS.has(sub), `${name} runs unknown subcommand '${sub}'`);
    assert.ok(
      config?.startsWith("/etc/rustmq/"),
      `${name} reads its config from the mounted config/`,
    );
    await Deno.stat(new URL(`config/${config!.slice("/etc/rustmq/".length)}`, root));
  }
  const docs = (await read("k8s/rustmq.yaml")).split(/^---$/m).map((d) =>
    parseYaml(d) as Record<string, unknown>
  );
  const sets = docs.filter((d) => d.kind === "StatefulSet") as {
    spec: { template: { spec: { containers: { command: string[] }[] } } };
  }[];
  assert.equal(sets.length, 2);
  for (const s of sets) {
    const { sub, config } = _commandOf(s.spec.template.spec.containers[0]!.command);
    assert.ok(SUBCOMMANDS.has(sub), `unknown subcommand '${sub}'`);
    await Deno.stat(new URL(`config/${config!.slice("/etc/rustmq/".length)}`, root));
  }
});

Deno.test("Dockerfile exposes every default port and builds with deno task compile", async () => {
  const text = await read("Dockerfile");
  assert.match(text, /npm install -g deno@2\.9\.6/);
  assert.match(text, /deno task compile/);
  for (const port of ["9092/tcp", "9092/udp", "9093", "9094", "9095", "9642"]) {
    assert.ok(text.includes(port), `Dockerfile does not expose ${port}`);
  }
});

type _Doc = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
};
// deno-lint-ignore no-explicit-any
type _Any = any;

async function _docs(path: string): Promise<_Doc[]> {
  return (await read(path)).split(/^---$/m).map((d) => parseYaml(d) as _Doc).filter((d) =>
    d !== null
  );
}

Deno.test("k8s/rustmq.yaml: namespace, WAL storage class and size, PDBs, LoadBalancer, spread", async () => {
  const docs = await _docs("k8s/rustmq.yaml");
  const byKind = (k: string) => docs.filter((d) => d.kind === k);
  const k8s = loadBrokerConfig("b.toml", { text: "", env: {} })["operations.kubernetes"];
  assert.equal(byKind("Namespace")[0]?.metadata.name, "rustmq");
  for (const d of docs) {
    if (d.kind === "Namespace" || d.kind === "StorageClass") continue;
    assert.equal(d.metadata.namespace, "rustmq", `${d.kind} ${d.metadata.name} is namespaced`);
  }
  const sets = byKind("StatefulSet") as _Any[];
  const broker = sets.find((s) => s.metadata.name === "rustmq-broker");
  assert.equal(k8s.use_stateful_sets, true);
  const wal = broker.spec.volumeClaimTemplates.find((v: _Any) => v.metadata.name === "wal");
  assert.equal(wal.spec.storageClassName, k8s.pvc_storage_class);
  assert.equal(wal.spec.resources.requests.storage, k8s.wal_volume_size);
  const sc = byKind("StorageClass").find((s) => s.metadata.name === k8s.pvc_storage_class);
  assert.ok(sc, `a StorageClass named ${k8s.pvc_storage_class}`);
  assert.equal((sc as _Any).volumeBindingMode, "WaitForFirstConsumer");
  assert.equal(k8s.enable_pod_affinity, true);
  const spec = broker.spec.template.spec;
  assert.ok(spec.affinity.podAntiAffinity, "brokers are spread over nodes");
  const grace = loadBrokerConfig("b.toml", { text: "", env: {} }).operations
    .graceful_shutdown_timeout_ms;
  assert.ok(spec.terminationGracePeriodSeconds * 1000 > grace, "room for controlled shutdown");
  // Each PDB selects one StatefulSet's pods and lets one go at a time.
  for (const set of sets) {
    const labels = set.spec.template.metadata.labels;
    const pdb = (byKind("PodDisruptionBudget") as _Any[]).find((p) =>
      JSON.stringify(p.spec.selector.matchLabels) === JSON.stringify(labels)
    );
    assert.ok(pdb, `a PodDisruptionBudget for ${set.metadata.name}`);
    assert.equal(pdb.spec.maxUnavailable, 1);
  }
  // The LoadBalancer reaches the brokers on a port they listen on.
  const lb = (byKind("Service") as _Any[]).find((s) => s.spec.type === "LoadBalancer");
  assert.ok(lb, "a LoadBalancer service for clients");
  assert.deepEqual(lb.spec.selector, broker.spec.template.metadata.labels);
  const containerPorts = spec.containers[0].ports.map((p: _Any) => p.containerPort);
  for (const p of lb.spec.ports) {
    assert.ok(containerPorts.includes(p.targetPort), `${p.targetPort}`);
  }
  const listen = loadBrokerConfig("cluster-broker.toml", {
    text: await read("config/cluster-broker.toml"),
    env: {
      RUSTMQ_BROKER_ID: "b",
      RUSTMQ_ADVERTISED_HOST: "h",
      RUSTMQ_S3_ACCESS_KEY: "k",
      RUSTMQ_S3_SECRET_KEY: "s",
    },
  }).network.kafka_listen;
  assert.ok(listen.endsWith(`:${lb.spec.ports[0].targetPort}`), listen);
});

Deno.test("k8s/gcs overlay: Workload Identity service account and a broker config on GCS", async () => {
  const kust = parseYaml(await read("k8s/gcs/kustomization.yaml")) as _Any;
  for (const r of kust.resources) await Deno.stat(new URL(`k8s/gcs/${r}`, root));
  const base = await _docs("k8s/rustmq.yaml");
  const sa = (await _docs("k8s/gcs/service_account.yaml"))[0]!;
  assert.equal(sa.kind, "ServiceAccount");
  assert.match(sa.metadata.annotations!["iam.gke.io/gcp-service-account"]!, /@.*\.iam\./);
  for (const p of kust.patches) {
    const patch = parseYaml(await read(`k8s/gcs/${p.path}`)) as _Any;
    const target = base.find((d) =>
      d.kind === patch.kind && d.metadata.name === patch.metadata.name
    ) as _Any;
    assert.ok(target, `the patch targets ${patch.kind} ${patch.metadata.name} of the base`);
    const pod = patch.spec.template.spec;
    assert.equal(pod.serviceAccountName, sa.metadata.name);
    const container = pod.containers[0];
    const baseEnv = target.spec.template.spec.containers[0].env.map((e: _Any) => e.name);
    for (const e of container.env.filter((e: _Any) => e.$patch === "delete")) {
      assert.ok(baseEnv.includes(e.name), `deletes ${e.name}, which the base sets`);
    }
    const { sub, config } = _commandOf(container.command);
    assert.equal(sub, "broker");
    const cfg = loadBrokerConfig("cluster-broker-gcs.toml", {
      text: await read(`config/${config!.slice("/etc/rustmq/".length)}`),
      env: {
        RUSTMQ_BROKER_ID: "broker-0",
        RUSTMQ_ADVERTISED_HOST: "rustmq-broker-0.rustmq-broker.rustmq.svc",
        RUSTMQ_STORAGE_BUCKET: "my-bucket",
      },
    });
    assert.equal(cfg.object_storage.storage_type, "Gcs");
    assert.equal(cfg.object_storage.bucket, "my-bucket");
    assert.equal(cfg.object_storage.credentials_path, "", "no key file: Workload Identity");
  }
});

Deno.test("compose.yaml: brokers and controllers have health checks, and an admin service runs the CLI", async () => {
  const compose = parseYaml(await read("compose.yaml"), { merge: true }) as {
    services: Record<
      string,
      { healthcheck?: { test: string[] }; entrypoint?: string[]; command?: string[] }
    >;
  };
  const broker = loadBrokerConfig("cluster-broker.toml", {
    text: await read("config/cluster-broker.toml"),
    env: {
      RUSTMQ_BROKER_ID: "broker-1",
      RUSTMQ_ADVERTISED_HOST: "localhost",
      RUSTMQ_S3_ACCESS_KEY: "k",
      RUSTMQ_S3_SECRET_KEY: "s",
    },
  });
  const httpPort = broker.network.http_listen.split(":").at(-1);
  for (const [name, svc] of Object.entries(compose.services)) {
    if (!/^(controller|broker)-/.test(name)) continue;
    const test = svc.healthcheck?.test.join(" ") ?? "";
    assert.ok(test.includes(`:${httpPort}`), `${name} checks its health on :${httpPort}: ${test}`);
  }
  const admin = compose.services.admin;
  assert.ok(admin !== undefined, "an admin service");
  assert.deepEqual(admin.entrypoint?.slice(0, 2), ["/usr/local/bin/rustmq", "admin"]);
  const usage = new TextDecoder().decode(
    (await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("main.ts", root).pathname, "admin", "--help"],
      stdout: "piped",
      stderr: "piped",
    }).output()).stdout,
  );
  for (const verb of admin.command ?? []) assert.ok(usage.includes(verb), `admin knows ${verb}`);
});
