/**
 * Three controllers as real processes on loopback: SIGKILL the leader, check a new leader within
 * three election timeouts and that no committed topic is lost, keep `rustmq admin` working by
 * failing over across URLs, and restart the killed node after enough changes that it must catch
 * up by InstallSnapshot.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type CommandIo, runCli } from "../config/cli.ts";
import { adminCommand } from "../admin/admin_cmd.ts";
import { ControllerSession } from "../controller/session/controller_session.ts";
import { createLogger } from "../ops/logger.ts";
import {
  ControllerProcess,
  getJson,
  waitFor,
  writeClusterConfigs,
} from "./support/controller_cluster.ts";

const ELECTION_MS = 1000;

async function admin(
  urls: string[],
  ...args: string[]
): Promise<{ code: number; out: string; err: string }> {
  let out = "", err = "";
  const io: CommandIo = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    stopSignal: new Promise(() => {}),
  };
  const code = await runCli(
    ["admin", ...urls.flatMap((u) => ["--controller", u]), "--timeout-ms", "1500", ...args],
    { program: "rustmq", version: "test", commands: [adminCommand] },
    io,
  );
  return { code, out, err };
}

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function adminProcess(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--unstable-net", MAIN, "admin", ...args],
    stdin: "null",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** The leader every live node agrees on, else undefined. */
async function agreedLeader(nodes: ControllerProcess[]): Promise<string | undefined> {
  const leaders = await Promise.all(
    nodes.map(async (n) =>
      (await getJson(`${n.url}/api/v1/cluster/health`)).leader as string | null
    ),
  );
  const first = leaders[0];
  return first != null && leaders.every((l) => l === first) ? first : undefined;
}

Deno.test({
  name: "Controller cluster survives a SIGKILLed leader and catches the node up by snapshot",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const specs = await writeClusterConfigs({
      size: 3,
      electionTimeoutMs: ELECTION_MS,
      heartbeatIntervalMs: 100,
      snapshotEntries: 20,
      brokerLeaseMs: 600_000,
    });
    const procs = specs.map((s) => ControllerProcess.spawn(s));
    const sessions: ControllerSession[] = [];
    try {
      let live = [...procs];
      const leaderId = await waitFor("a first leader", 20_000, () => agreedLeader(live), 100);
      // Three brokers on three racks, so replication factor 3 is placeable. They heartbeat and
      // watch through the broker-side client, which must ride out the leader's death too.
      for (const id of [1, 2, 3]) {
        sessions.push(
          await ControllerSession.connect({
            endpoints: specs.map((s) => `127.0.0.1:${s.rpcPort}`),
            broker: { nodeId: id, host: "127.0.0.1", port: 9000 + id, rack: `rack-${id}` },
            logger: createLogger(`broker-${id}`, { level: "error" }),
            heartbeatIntervalMs: 200,
          }),
        );
      }
      const urls = procs.map((p) => p.url);
      for (let i = 0; i < 5; i++) {
        const r = await admin(
          urls,
          "create-topic",
          `before-${i}`,
          "3",
          "3",
          "--config",
          "retention.ms=1000",
        );
        assert.equal(r.code, 0, r.err);
      }

      // SIGKILL the leader and time the election among the survivors.
      const victim = procs.find((p) => p.spec.id === leaderId)!;
      await victim.kill();
      const killedAt = performance.now();
      live = procs.filter((p) => p !== victim);
      // A write issued during the election waits for the new leader instead of failing.
      const midElection = admin(
        [victim.url, ...live.map((p) => p.url)],
        "create-topic",
        "mid-election",
        "1",
        "3",
      );
      const newLeader = await waitFor("a new leader", 3 * ELECTION_MS + 2000, async () => {
        const l = await agreedLeader(live);
        return l !== undefined && l !== leaderId ? l : undefined;
      }, 20);
      const failoverMs = performance.now() - killedAt;
      console.log(`failover: new leader ${newLeader} after ${failoverMs.toFixed(0)} ms`);
      assert.ok(failoverMs < 3 * ELECTION_MS, `new leader after ${failoverMs} ms`);
      const mid = await midElection;
      assert.equal(mid.code, 0, mid.err);

      // The admin CLI skips the dead URL (listed first) and sees every committed topic.
      const deadFirst = [victim.url, ...live.map((p) => p.url)];
      const listed = await admin(deadFirst, "list-topics", "--json");
      assert.equal(listed.code, 0, listed.err);
      const names = (JSON.parse(listed.out).topics as { name: string }[]).map((t) => t.name).sort();
      assert.deepEqual(names, [
        "before-0",
        "before-1",
        "before-2",
        "before-3",
        "before-4",
        "mid-election",
      ]);
      const described = await admin(deadFirst, "describe-topic", "before-3", "--json");
      assert.equal(JSON.parse(described.out).configs["retention.ms"], "1000");

      // The real executable too: it skips the dead URL, and fails clearly when none answers.
      const cli = await adminProcess([
        ...deadFirst.flatMap((u) => ["--controller", u]),
        "list-topics",
      ]);
      assert.equal(cli.code, 0, cli.err);
      assert.match(cli.out, /^NAME\s+PARTITIONS\s+REPLICATION\n/);
      assert.match(cli.out, /before-4\s+3\s+3/);
      const none = await adminProcess(["--controller", victim.url, "brokers"]);
      assert.equal(none.code, 1);
      assert.match(none.err, /rustmq admin: Cannot reach/);

      // A write sent to a follower is forwarded to the leader.
      const follower = live.find((p) => p.spec.id !== newLeader)!;
      const viaFollower = await admin([follower.url], "create-topic", "via-follower", "2", "2");
      assert.equal(viaFollower.code, 0, viaFollower.err);
      assert.equal((await admin([follower.url], "delete-topic", "via-follower")).code, 0);
      // alter-topic changes configs and grows partitions in one command.
      const altered = await admin(
        [follower.url],
        "alter-topic",
        "before-1",
        "--config",
        "retention.ms=2000",
        "--partitions",
        "4",
        "--json",
      );
      assert.equal(altered.code, 0, altered.err);
      const alteredTopic = JSON.parse(
        (await admin(urls, "describe-topic", "before-1", "--json")).out,
      );
      assert.equal(alteredTopic.partitions, 4);
      assert.equal(alteredTopic.configs["retention.ms"], "2000");
      const badAlter = await admin(urls, "alter-topic", "before-1", "--config", "retention.ms=x");
      assert.equal(badAlter.code, 1);
      assert.match(badAlter.err, /retention\.ms/);

      // Enough changes while it is down that the log it needs is compacted away.
      for (let i = 0; i < 30; i++) {
        const r = await admin(deadFirst, "create-topic", `during-${i}`, "1", "2");
        assert.equal(r.code, 0, r.err);
      }
      for (let i = 0; i < 10; i++) {
        assert.equal((await admin(deadFirst, "delete-topic", `during-${i}`)).code, 0);
      }
      const health = await admin(deadFirst, "cluster-health", "--json");
      assert.equal(JSON.parse(health.out).leader, newLeader);
      assert.deepEqual(JSON.parse(health.out).brokers.up_ids, [1, 2, 3], "no broker was fenced");
      // Every broker's cache followed the changes across the failover.
      for (const s of sessions) {
        await waitFor(
          "a broker cache to catch up",
          5000,
          () => Promise.resolve(s.cache.topic("during-29") !== undefined ? true : undefined),
        );
        assert.equal(s.cache.topic("during-0"), undefined);
      }

      const restarted = ControllerProcess.spawn(victim.spec);
      procs[procs.indexOf(victim)] = restarted;
      live = [...procs];
      const leaderCommit = Number(
        (await getJson(`${live.find((p) => p.spec.id === newLeader)!.url}/api/v1/metrics`))
          .commit_index,
      );
      await waitFor("the restarted node to catch up", 20_000, async () => {
        const m = await getJson(`${restarted.url}/api/v1/metrics`);
        return Number(m.applied_index) >= leaderCommit ? true : undefined;
      }, 100);
      assert.match(restarted.stderr(), /restored a snapshot/);
      // Its own linearizable view matches the leader's.
      const mine = await admin([restarted.url], "list-topics", "--json");
      assert.equal(mine.code, 0, mine.err);
      const mineNames = (JSON.parse(mine.out).topics as { name: string }[]).map((t) => t.name);
      assert.equal(mineNames.length, 26);
      assert.ok(mineNames.includes("before-0") && mineNames.includes("during-29"));
      assert.ok(!mineNames.includes("during-0"));

      // An error from the cluster reaches the CLI user with a non-zero exit.
      const dup = await admin(urls, "create-topic", "before-0", "1", "1");
      assert.equal(dup.code, 1);
      assert.match(dup.err, /already exists/);
    } finally {
      for (const s of sessions) s.close();
      await Promise.all(procs.map((p) => p.kill()));
      await Deno.remove(specs[0]!.dataDir.replace(/\/controller-1$/, ""), { recursive: true })
        .catch(() => {});
    }
  },
});
