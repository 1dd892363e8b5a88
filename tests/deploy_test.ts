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
