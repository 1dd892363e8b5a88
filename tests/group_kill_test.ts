/**
 * A group member in another process is killed with SIGKILL: its partitions move to the
 * remaining members within the session timeout, and they resume from its last committed
 * offsets.
 */

import assert from "node:assert/strict";
import { type ConsumerRecord, RustMqClient } from "../client/mod.ts";
import { createTestTopic, startGroupTestBroker } from "./group_support.ts";
import { OwnershipLog, waitUntil } from "./support/group_member_checks.ts";

const TEST_OPTS = { sanitizeOps: false, sanitizeResources: false };
const SESSION_TIMEOUT_MS = 6000;

interface _ChildEvent {
  event: string;
  partition?: number;
  offset?: number;
  partitions?: number[];
}

/** Starts the member process and collects its events. */
function _spawnVictim(url: string, groupId: string, topic: string) {
  const script = new URL("./support/group_member_main.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", script, url, groupId, topic],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const events: _ChildEvent[] = [];
  const reading = (async () => {
    let buffered = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) if (line.trim() !== "") events.push(JSON.parse(line));
    }
  })();
  return { child, events, reading };
}

Deno.test({
  name: "GroupConsumer members take over a SIGKILLed member's partitions at its committed offsets",
  ...TEST_OPTS,
  async fn() {
    await using b = await startGroupTestBroker();
    const url = `tcp://${b.bootstrap}`;
    const topic = "work";
    await createTestTopic(b.broker, topic, 6);
    const client = await RustMqClient.connect({ brokers: [url] });
    const producer = client.producer();
    const produce = (from: number, count: number) =>
      producer.sendBatch(
        Array.from(
          { length: count },
          (_, i) => ({ topic, partition: (from + i) % 6, value: `m${from + i}` }),
        ),
      );
    await produce(0, 600);

    const victim = _spawnVictim(url, "gk", topic);
    try {
      // The victim joins first and starts on its partitions.
      await waitUntil(
        () => victim.events.some((e) => e.event === "committed"),
        20_000,
        "the victim's first commit",
      );
      const log = new OwnershipLog();
      const records: ConsumerRecord[] = [];
      let running = true;
      const survivors = ["a", "b"].map((name) => {
        const consumer = client.consumer({
          groupId: "gk",
          autoOffsetReset: "earliest",
          sessionTimeoutMs: SESSION_TIMEOUT_MS,
          heartbeatIntervalMs: 300,
          autoCommitIntervalMs: 200,
          maxWaitMs: 100,
          onRebalance: {
            assigned: (tps, ctx) => log.assigned(name, tps, ctx.generationId, ctx.assignment),
            revoked: (tps) => log.revoked(name, tps),
          },
        });
        consumer.subscribe([topic]);
        const loop = (async () => {
          while (running) {
            for (const r of await consumer.poll({ timeoutMs: 200, maxRecords: 20 })) {
              log.consumed(name, r);
              records.push(r);
            }
          }
        })();
        return { consumer, loop };
      });
      // Balanced: the victim owns two partitions in the current generation and is consuming.
      const victimOwned = () =>
        victim.events.filter((e) => e.event === "assigned").at(-1)?.partitions ?? [];
      await waitUntil(
        () => log.owners.size === 4 && victimOwned().length === 2,
        20_000,
        "three members",
      );
      const owned = victimOwned();
      const commitsBefore = victim.events.filter((e) => e.event === "committed").length;
      const committedOn = (p: number) =>
        victim.events.slice(commitsBefore).some((e) =>
          e.event === "committed" && e.partition === p
        );
      await waitUntil(
        () => owned.every(committedOn),
        10_000,
        "the victim committing on both partitions in the final generation",
      );

      victim.child.kill("SIGKILL");
      await victim.child.status;
      await victim.reading;
      const killedAt = Date.now();
      const lastCommitted = new Map<number, number>();
      const lastConsumed = new Map<number, number>();
      for (const e of victim.events) {
        if (e.event === "committed") lastCommitted.set(e.partition!, e.offset!);
        if (e.event === "record") lastConsumed.set(e.partition!, e.offset!);
      }
      const recordsAtKill = records.length;

      await waitUntil(
        () => log.owners.size === 6,
        SESSION_TIMEOUT_MS + 6000,
        "the victim's partitions to move",
      );
      const movedAfterMs = Date.now() - killedAt;
      console.log(
        "moved after",
        movedAfterMs,
        "owned",
        owned,
        "committed",
        [...lastCommitted],
        "consumed",
        [...lastConsumed],
        "atKill",
        recordsAtKill,
      );
      // The coordinator notices after the session timeout; the rebalance itself is quick.
      assert.ok(movedAfterMs <= SESSION_TIMEOUT_MS + 5000, `moved after ${movedAfterMs} ms`);
      await produce(600, 60);
      const seen = () =>
        new Set([
          ...records.map((r) => `${r.partition}:${r.offset}`),
          ...victim.events.filter((e) => e.event === "record").map((e) =>
            `${e.partition}:${e.offset}`
          ),
        ]);
      await waitUntil(() => seen().size === 660, 20_000, "all 660 records");
      running = false;
      await Promise.all(survivors.map((s) => s.loop));
      await Promise.all(survivors.map((s) => s.consumer.close()));

      assert.deepEqual(log.violations, []);
      assert.deepEqual(log.generationOverlaps(), []);
      for (const p of owned) {
        const committed = lastCommitted.get(p) ?? 0;
        const after = records.slice(recordsAtKill).filter((r) => r.partition === p).map((r) =>
          r.offset
        );
        assert.ok(after.length > 0, `partition ${p} was consumed after the kill`);
        const resumedAt = Math.min(...after);
        // Nothing below the committed offset comes back; at most the uncommitted tail does.
        assert.ok(resumedAt >= committed, `partition ${p} resumed at ${resumedAt} < ${committed}`);
        assert.ok(
          resumedAt <= (lastConsumed.get(p) ?? -1) + 1,
          `partition ${p} resumed at ${resumedAt}, past the victim's last record`,
        );
      }
    } finally {
      try {
        victim.child.kill("SIGKILL");
      } catch {
        // Already dead.
      }
      await client.close();
    }
  },
});
