/**
 * The console producer and consumer round-trip records through a real broker over tcp:// and
 * quic://, run as child processes exactly as users run them.
 */

import assert from "node:assert/strict";
import { startTestBroker } from "./sdk_broker.ts";

const _MAIN = new URL("../main.ts", import.meta.url).pathname;

async function _rustmq(
  args: string[],
  stdin = "",
): Promise<{ code: number; out: string; err: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", _MAIN, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  return { code, out: new TextDecoder().decode(stdout), err: new TextDecoder().decode(stderr) };
}

Deno.test({
  name: "rustmq produce and consume round-trip over tcp:// and quic://",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const broker = await startTestBroker("[broker]\nnum_partitions=2\n");
    try {
      for (const [name, url] of [["tcp", broker.tcpUrl], ["quic", broker.quicUrl]] as const) {
        await t.step(`${name}: keyed lines with headers come back in the kcat format`, async () => {
          const topic = `console-${name}`;
          const produced = await _rustmq(
            [
              "produce",
              "-b",
              url,
              "--ca-cert",
              broker.caPath,
              "-t",
              topic,
              "-K",
              ":",
              "-H",
              "source=test",
              "-z",
              "lz4",
              "-a",
              "1",
              "-p",
              "1",
            ],
            "k1:hello\nk2:world\nno separator\n",
          );
          assert.equal(produced.code, 0, produced.err);
          const consumed = await _rustmq([
            "consume",
            "-b",
            url,
            "--ca-cert",
            broker.caPath,
            "-t",
            topic,
            "--from-beginning",
            "--exit-at-end",
            "-f",
            "%t|%p|%o|%k|%s|%h\\n",
          ]);
          assert.equal(consumed.code, 0, consumed.err);
          assert.equal(
            consumed.out,
            `${topic}|1|0|k1|hello|source=test\n${topic}|1|1|k2|world|source=test\n` +
              `${topic}|1|2||no separator|source=test\n`,
          );
          const limited = await _rustmq([
            "consume",
            "-b",
            url,
            "--ca-cert",
            broker.caPath,
            "-t",
            topic,
            "-p",
            "1",
            "-o",
            "1",
            "-c",
            "1",
            "-f",
            "%o:%s\\t%K\\n",
          ]);
          assert.equal(limited.code, 0, limited.err);
          assert.equal(limited.out, "1:world\t2\n");
          // Each command closed its connection before exiting: none is left for the broker to
          // hold until its idle timeout (30 s).
          const open = () =>
            name === "tcp"
              ? broker.broker.network.tcp.connectionsOpen
              : broker.broker.network.quic!.connectionsOpen;
          for (let i = 0; i < 100 && open() > 0; i++) await new Promise((r) => setTimeout(r, 50));
          assert.equal(open(), 0, "the broker holds no connection of an exited command");
        });
      }
      await t.step("a bad format is a usage error", async () => {
        const bad = await _rustmq(["consume", "-b", broker.tcpUrl, "-t", "x", "-f", "%z"]);
        assert.equal(bad.code, 2);
        assert.match(bad.err, /%z is not one of/);
      });
      await t.step("quic:// without --ca-cert says the certificate is not trusted", async () => {
        const untrusted = await _rustmq(["produce", "-b", broker.quicUrl, "-t", "x"], "a\n");
        assert.equal(untrusted.code, 1, untrusted.err);
        assert.match(untrusted.err, /TLS certificate is not trusted/);
        assert.match(untrusted.err, /--ca-cert FILE/);
        assert.doesNotMatch(untrusted.err, /\n\s+at /, "no stack trace");
      });
    } finally {
      await broker.close();
    }
  },
});
