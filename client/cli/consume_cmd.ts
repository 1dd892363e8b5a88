/**
 * `rustmq consume`: the console consumer.
 *
 * @module
 */

import {
  type Command,
  EXIT_OK,
  intOpt,
  type OptionValues,
  stringOpt,
  UsageError,
} from "../../config/cli.ts";
import type { Consumer, SeekTarget, TopicPartition } from "../consumer.ts";
import { CA_CERT_OPTION, connectFromOptions, requiredOpt, SASL_OPTIONS } from "./_cli_client.ts";
import { compileRecordFormat, formatRecord } from "./record_format.ts";

/** The `consume` subcommand. */
export const consumeCommand: Command = {
  name: "consume",
  summary: "Consume records from a topic and print them",
  options: {
    bootstrap: {
      type: "string",
      short: "b",
      arg: "URL",
      default: "tcp://127.0.0.1:9092",
      help: "Broker URL: tcp://, tls:// or quic://host:port",
    },
    topic: { type: "string", short: "t", arg: "TOPIC", help: "Topic to consume" },
    partition: { type: "string", short: "p", arg: "N", help: "Only this partition" },
    offset: {
      type: "string",
      short: "o",
      arg: "N",
      help: "Start offset: N, beginning, end, or s@TIMESTAMP_MS",
    },
    "from-beginning": { type: "boolean", help: "Start at the earliest offset" },
    "max-messages": { type: "string", short: "c", arg: "N", help: "Exit after N messages" },
    format: {
      type: "string",
      short: "f",
      arg: "FMT",
      default: "%s\\n",
      help:
        "Output format like kcat -f: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp, %h headers",
    },
    "exit-at-end": {
      type: "boolean",
      short: "e",
      help: "Exit when the end of every partition is reached",
    },
    "ca-cert": CA_CERT_OPTION,
    ...SASL_OPTIONS,
  },
  async run(values, _positionals, io) {
    const topic = requiredOpt(values, "topic");
    let format;
    try {
      format = compileRecordFormat(stringOpt(values, "format") ?? "%s\\n");
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const maxMessages = intOpt(values, "max-messages", { min: 1 }) ?? Infinity;
    const start = _startTarget(values);
    const exitAtEnd = values["exit-at-end"] === true;
    const client = await connectFromOptions(values);
    let stopped = false;
    io.stopSignal.then(() => stopped = true);
    try {
      const consumer = client.consumer({
        autoOffsetReset: values["from-beginning"] === true ? "earliest" : "latest",
        maxWaitMs: 200,
      });
      const tps = await _partitions(values, topic, () => client.partitionCount(topic));
      consumer.assign(tps);
      if (start !== null) { for (const tp of tps) await consumer.seek(tp, start); }
      let printed = 0;
      while (!stopped && printed < maxMessages) {
        const records = await consumer.poll({ timeoutMs: 300, maxRecords: 1000 });
        let out = "";
        for (const r of records.slice(0, maxMessages - printed)) out += formatRecord(format, r);
        if (out !== "") io.out(out);
        printed += Math.min(records.length, maxMessages - printed);
        if (exitAtEnd && records.length === 0 && _atEnd(consumer, tps)) break;
      }
    } finally {
      await client.close();
    }
    return EXIT_OK;
  },
};

function _startTarget(values: OptionValues): SeekTarget | null {
  const raw = stringOpt(values, "offset");
  if (raw === undefined) return values["from-beginning"] === true ? "earliest" : null;
  if (raw === "beginning") return "earliest";
  if (raw === "end") return "latest";
  if (raw.startsWith("s@")) {
    const timestamp = Number(raw.slice(2));
    if (!Number.isSafeInteger(timestamp)) {
      throw new UsageError(`--offset s@ expects a timestamp: current value is '${raw}'`);
    }
    return { timestamp };
  }
  const offset = Number(raw);
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new UsageError(
      `--offset must be N, beginning, end or s@TIMESTAMP: current value is '${raw}'`,
    );
  }
  return offset;
}

async function _partitions(
  values: OptionValues,
  topic: string,
  count: () => Promise<number>,
): Promise<TopicPartition[]> {
  const partition = intOpt(values, "partition", { min: 0 });
  if (partition !== undefined) return [{ topic, partition }];
  return Array.from({ length: await count() }, (_, p) => ({ topic, partition: p }));
}

function _atEnd(consumer: Consumer, tps: TopicPartition[]): boolean {
  return tps.every((tp) => {
    const position = consumer.position(tp);
    const end = consumer.highWatermark(tp);
    return position !== null && end >= 0 && position >= end;
  });
}
