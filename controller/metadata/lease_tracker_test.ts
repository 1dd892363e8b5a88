import assert from "node:assert/strict";
import { LeaseTracker } from "./lease_tracker.ts";

Deno.test("LeaseTracker grants a full lease to brokers it first sees, then expires them", () => {
  const t = new LeaseTracker({ leaseMs: 100, fenceRetryMs: 50 });
  const brokers = [{ nodeId: 1, epoch: 3, fenced: false }, { nodeId: 2, epoch: 4, fenced: false }];
  assert.deepEqual(t.expired(brokers, 1000), []);
  t.heartbeat(1, 3, 1080);
  assert.deepEqual(t.expired(brokers, 1101), [{ nodeId: 2, brokerEpoch: 4 }]);
  assert.deepEqual(t.expired(brokers, 1120), [], "one proposal per retry interval");
  assert.deepEqual(t.expired(brokers, 1152), [{ nodeId: 2, brokerEpoch: 4 }]);
  assert.deepEqual(t.expired(brokers, 1181), [{ nodeId: 1, brokerEpoch: 3 }]);
});

Deno.test("LeaseTracker restarts the lease of a new registration and skips fenced brokers", () => {
  const t = new LeaseTracker({ leaseMs: 100 });
  t.expired([{ nodeId: 1, epoch: 1, fenced: false }], 0);
  assert.deepEqual(t.expired([{ nodeId: 1, epoch: 9, fenced: false }], 150), []);
  assert.deepEqual(t.expired([{ nodeId: 1, epoch: 9, fenced: true }], 500), []);
  t.clear();
  assert.deepEqual(t.expired([{ nodeId: 1, epoch: 9, fenced: false }], 500), []);
  assert.throws(() => new LeaseTracker({ leaseMs: 0 }), RangeError);
});
