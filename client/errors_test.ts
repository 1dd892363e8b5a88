import assert from "node:assert/strict";
import {
  BrokerError,
  brokerError,
  fromTransportError,
  isRetriable,
  MessageTooLargeError,
  NotLeaderError,
  OffsetOutOfRangeError,
  TimeoutError,
  UnknownTopicError,
} from "./errors.ts";
import { TimeoutError as TransportTimeoutError } from "../protocol/transport/errors.ts";

Deno.test("brokerError maps Kafka codes to typed classes with code names", () => {
  const notLeader = brokerError(6, { topic: "t", partition: 2, leaderId: 3 });
  assert.ok(notLeader instanceof NotLeaderError);
  assert.equal(notLeader.code, "NOT_LEADER_OR_FOLLOWER");
  assert.equal((notLeader as NotLeaderError).leaderId, 3);
  assert.ok(notLeader.retriable);
  assert.ok(brokerError(1) instanceof OffsetOutOfRangeError);
  assert.ok(brokerError(10) instanceof MessageTooLargeError);
  assert.ok(brokerError(18) instanceof MessageTooLargeError);
  assert.ok(brokerError(3) instanceof UnknownTopicError);
  const timeout = brokerError(7);
  assert.ok(timeout instanceof TimeoutError && timeout.kafkaCode === 7 && timeout.retriable);
  const generic = brokerError(21, { brokerMessage: "acks" });
  assert.ok(generic instanceof BrokerError && generic.constructor === BrokerError);
  assert.equal(generic.code, "INVALID_REQUIRED_ACKS");
  assert.equal((generic as BrokerError).kafkaCode, 21);
  assert.match(
    generic.message,
    /^Cannot complete the request as the broker answered INVALID_REQUIRED_ACKS/,
  );
  assert.equal(brokerError(9999).code, "KAFKA_ERROR_9999");
});

Deno.test("isRetriable never retries programmer errors", () => {
  assert.equal(isRetriable(new TypeError("bug")), false);
  assert.equal(isRetriable(new RangeError("bad option")), false);
  assert.equal(isRetriable(brokerError(6)), true);
  assert.equal(isRetriable(brokerError(10)), false);
});

Deno.test("fromTransportError turns transport timeouts into the SDK's TimeoutError", () => {
  const cause = new TransportTimeoutError("REQUEST_TIMEOUT", 5);
  const error = fromTransportError(cause);
  assert.ok(error instanceof TimeoutError);
  assert.equal(error.code, "REQUEST_TIMEOUT");
  assert.equal(error.cause, cause);
});
