/**
 * `rustmq bench`: the load generator, modelled on kafka-producer-perf-test.
 *
 * @module
 */

import { type Command, EXIT_FAILURE } from "../../config/cli.ts";

/** The `bench` subcommand. */
export const benchCommand: Command = {
  name: "bench",
  summary: "Generate load and report throughput and latency (produce, consume, e2e)",
  positionals: "<produce|consume|e2e>",
  options: {
    bootstrap: {
      type: "string",
      short: "b",
      arg: "URL",
      default: "tcp://127.0.0.1:9092",
      help: "Broker URL",
    },
    topic: { type: "string", short: "t", arg: "TOPIC", default: "bench", help: "Topic" },
    records: { type: "string", arg: "N", default: "100000", help: "Records to send" },
    "record-size": { type: "string", arg: "BYTES", default: "1024", help: "Record size" },
    throughput: {
      type: "string",
      arg: "N",
      default: "-1",
      help: "Target records/s (-1: unlimited)",
    },
    acks: { type: "string", arg: "ACKS", default: "1", help: "0, 1, all or -1" },
    transport: { type: "string", arg: "T", default: "tcp", help: "tcp or quic" },
    producers: { type: "string", arg: "N", default: "1", help: "Concurrent producers" },
    partitions: { type: "string", arg: "N", default: "1", help: "Partitions of the topic" },
    json: { type: "boolean", help: "Print one JSON object" },
  },
  async run(_values, _positionals, io) {
    await Promise.resolve();
    io.err("rustmq bench: not implemented yet\n");
    return EXIT_FAILURE;
  },
};
