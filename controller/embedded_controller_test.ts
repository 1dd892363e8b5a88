import assert from "node:assert/strict";
import { createLogger } from "../ops/logger.ts";
import { EmbeddedController } from "./embedded_controller.ts";

Deno.test("EmbeddedController serves metadata and the manifest, and survives a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "rustmq-emb-" });
  const options = {
    dataDir: dir,
    broker: { nodeId: 1, host: "127.0.0.1", port: 9092, rack: null },
    logger: createLogger("t", { level: "error" }),
    topicDefaults: { "retention.ms": 1234 },
  };
  try {
    let c = await EmbeddedController.start(options);
    const seen: string[] = [];
    c.onChange((t) => seen.push(...t));
    const t = await c.createTopic("a", 2, 1);
    assert.equal(t.config["retention.ms"], 1234);
    assert.deepEqual(c.topic("a")?.partitions.map((p) => p.leader), [1, 1]);
    assert.deepEqual(seen, ["a"]);
    assert.deepEqual(c.brokers(), [{ nodeId: 1, host: "127.0.0.1", port: 9092, rack: null }]);
    assert.equal(await c.allocateProducerId(), 0n);
    assert.equal(await c.allocateProducerId(), 1n);
    await c.commitUpload({
      objectKey: "o",
      sizeBytes: 1,
      createdMs: 0,
      ranges: [{
        key: "a/0",
        baseOffset: 0,
        lastOffset: 3,
        position: 0,
        length: 1,
        maxTimestamp: 0,
      }],
    });
    assert.equal(c.ranges("a/0").length, 1);
    const clusterId = c.clusterId;
    await c.close();

    c = await EmbeddedController.start({ ...options, broker: { ...options.broker, port: 9999 } });
    try {
      assert.equal(c.clusterId, clusterId);
      assert.equal(c.topic("a")?.partitions.length, 2);
      assert.equal(c.has("o"), true);
      assert.equal(c.brokers()[0]?.port, 9999, "the broker re-registers with its new address");
      assert.ok(await c.allocateProducerId() >= 1000n, "a new block after a restart");
      await assert.rejects(c.createTopic("a", 1, 1), { code: "TOPIC_ALREADY_EXISTS" });
    } finally {
      await c.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EmbeddedController imports standalone's local metadata and manifest once", async () => {
  const { LocalMetadata, fileMetadataPersistence } = await import(
    "../broker/metadata/local_metadata.ts"
  );
  const { LocalObjectManifest } = await import("../broker/tiering/local_object_manifest.ts");
  const dir = await Deno.makeTempDir({ prefix: "rustmq-emb-" });
  try {
    const self = { nodeId: 1, host: "127.0.0.1", port: 9092, rack: null };
    const local = await LocalMetadata.open(self, fileMetadataPersistence(`${dir}/metadata.json`));
    const topic = await local.createTopic("legacy", 3, 1, { "retention.ms": "777" });
    await local.allocateProducerId();
    const manifest = await LocalObjectManifest.open(
      fileMetadataPersistence(`${dir}/manifest.json`),
    );
    await manifest.commitUpload({
      objectKey: "old-object",
      sizeBytes: 1,
      createdMs: 0,
      ranges: [{
        key: "legacy/0",
        baseOffset: 0,
        lastOffset: 9,
        position: 0,
        length: 1,
        maxTimestamp: 0,
      }],
    });
    const files = {
      // Read as standalone_cmd.ts reads them: through their writer, which checks the checksum.
      metadata: await fileMetadataPersistence(`${dir}/metadata.json`).load(),
      manifest: await fileMetadataPersistence(`${dir}/manifest.json`).load(),
    };
    const options = {
      dataDir: `${dir}/controller`,
      broker: self,
      logger: createLogger("t", { level: "error" }),
      importLocal: files,
    };
    let c = await EmbeddedController.start(options);
    try {
      assert.equal(c.clusterId, local.clusterId);
      assert.equal(c.topic("legacy")?.topicId, topic.topicId);
      assert.equal(c.topic("legacy")?.config["retention.ms"], 777);
      assert.deepEqual(c.partition("legacy/0"), { logStartOffset: 0, uploadedEndOffset: 10 });
      assert.ok(await c.allocateProducerId() >= 1000n, "producer ids continue past the old block");
      await c.createTopic("new", 1, 1);
    } finally {
      await c.close();
    }
    c = await EmbeddedController.start(options);
    try {
      assert.deepEqual(c.topics().map((t) => t.name).sort(), ["legacy", "new"], "imported once");
      assert.equal(c.objects().length, 1);
    } finally {
      await c.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
