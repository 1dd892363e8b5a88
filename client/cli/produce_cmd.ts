/**
 * `rustmq produce`: the console producer. Reads lines from stdin and produces one record each.
 *
 * @module
 */

import {
  type Command,
  EXIT_FAILURE,
  EXIT_OK,
  intOpt,
  type OptionValues,
  stringOpt,
  UsageError,
} from "../../config/cli.ts";
import { COMPRESSION_CODECS, type CompressionCodec } from "../../protocol/record/compression.ts";
import { parseAckLevel } from "../ack_level.ts";
import { BufferFullError } from "../errors.ts";
import type { Producer } from "../producer.ts";
import type { ProducerMessage } from "../producer_message.ts";
import {
  CA_CERT_OPTION,
  connectFromOptions,
  describeError,
  requiredOpt,
  SASL_OPTIONS,
} from "./_cli_client.ts";

/** The `produce` subcommand. */
export const produceCommand: Command = {
  name: "produce",
  summary: "Produce lines from stdin to a topic",
  options: {
    bootstrap: {
      type: "string",
      short: "b",
      arg: "URL",
      default: "tcp://127.0.0.1:9092",
      help: "Broker URL: tcp://, tls:// or quic://host:port",
    },
    topic: { type: "string", short: "t", arg: "TOPIC", help: "Topic to produce to" },
    partition: { type: "string", short: "p", arg: "N", help: "Partition (default: by key hash)" },
    "key-separator": {
      type: "string",
      short: "K",
      arg: "SEP",
      help: "Split each line into key SEP value",
    },
    header: {
      type: "string",
      short: "H",
      arg: "K=V",
      multiple: true,
      help: "Add a header to every record",
    },
    acks: { type: "string", short: "a", arg: "ACKS", default: "all", help: "0, 1, all or -1" },
    compression: {
      type: "string",
      short: "z",
      arg: "CODEC",
      default: "none",
      help: "none, gzip, snappy, lz4 or zstd",
    },
    "linger-ms": { type: "string", arg: "MS", default: "5", help: "Wait to fill batches" },
    "ca-cert": CA_CERT_OPTION,
    ...SASL_OPTIONS,
  },
  async run(values, _positionals, io) {
    const topic = requiredOpt(values, "topic");
    const settings = _settings(values);
    const client = await connectFromOptions(values);
    let failed = 0;
    let firstError: unknown = null;
    const producer = client.producer({
      ...settings,
      onError: (error) => {
        failed += 1;
        firstError ??= error;
      },
    });
    let lines = 0;
    try {
      for await (const line of _stdinLines()) {
        await _sendLine(producer, _message(topic, line, values));
        lines += 1;
      }
      await producer.flush();
    } finally {
      await client.close();
    }
    if (failed > 0) {
      io.err(
        `rustmq produce: ${failed} of ${lines} records failed: ${describeError(firstError)}\n`,
      );
      return EXIT_FAILURE;
    }
    io.err(`rustmq produce: ${lines} records produced to ${topic}\n`);
    return EXIT_OK;
  },
};

function _settings(values: OptionValues) {
  const compression = stringOpt(values, "compression") ?? "none";
  if (!COMPRESSION_CODECS.includes(compression as CompressionCodec)) {
    throw new UsageError(
      `--compression must be one of ${
        COMPRESSION_CODECS.join(", ")
      }: current value is '${compression}'`,
    );
  }
  let ackLevel;
  try {
    ackLevel = parseAckLevel(stringOpt(values, "acks") ?? "all");
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const headers = ((values.header ?? []) as string[]).map((h) => {
    const at = h.indexOf("=");
    if (at < 1) throw new UsageError(`--header expects K=V: current value is '${h}'`);
    return { key: h.slice(0, at), value: new TextEncoder().encode(h.slice(at + 1)) };
  });
  return {
    ackLevel,
    compression: compression as CompressionCodec,
    defaultHeaders: headers,
    lingerMs: intOpt(values, "linger-ms", { min: 0, max: 60_000 }) ?? 5,
  };
}

function _message(topic: string, line: string, values: OptionValues): ProducerMessage {
  const separator = stringOpt(values, "key-separator");
  const partition = intOpt(values, "partition", { min: 0 });
  const message: ProducerMessage = { topic, value: line };
  if (separator !== undefined && separator !== "") {
    const at = line.indexOf(separator);
    if (at >= 0) {
      message.key = line.slice(0, at);
      message.value = line.slice(at + separator.length);
    }
  }
  if (partition !== undefined) message.partition = partition;
  return message;
}

async function _sendLine(producer: Producer, message: ProducerMessage): Promise<void> {
  for (;;) {
    try {
      return producer.sendAsync(message);
    } catch (error) {
      // A full buffer means stdin is faster than the broker: wait for it, then go on.
      if (!(error instanceof BufferFullError)) throw error;
      await producer.flush();
    }
  }
}

async function* _stdinLines(): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) yield line.endsWith("\r") ? line.slice(0, -1) : line;
  }
  if (rest !== "") yield rest;
}
