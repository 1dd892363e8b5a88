/**
 * `rustmq consume`: the console consumer.
 *
 * @module
 */

import { type Command, EXIT_FAILURE } from "../../config/cli.ts";

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
    offset: { type: "string", short: "o", arg: "N", help: "Start offset (or beginning, end)" },
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
    "ca-cert": { type: "string", arg: "FILE", help: "CA certificate for tls:// and quic://" },
  },
  async run(_values, _positionals, io) {
    await Promise.resolve();
    io.err("rustmq consume: not implemented yet\n");
    return EXIT_FAILURE;
  },
};
