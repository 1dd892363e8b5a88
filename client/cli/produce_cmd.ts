/**
 * `rustmq produce`: the console producer. Reads lines from stdin and produces one record each.
 *
 * @module
 */

import { type Command, EXIT_FAILURE } from "../../config/cli.ts";

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
    "ca-cert": { type: "string", arg: "FILE", help: "CA certificate for tls:// and quic://" },
  },
  async run(_values, _positionals, io) {
    await Promise.resolve();
    io.err("rustmq produce: not implemented yet\n");
    return EXIT_FAILURE;
  },
};
