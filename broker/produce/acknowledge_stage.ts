/**
 * The produce pipeline's last stage, "replicate and acknowledge": the WAL acknowledges in order,
 * so once a batch is durable everything below its end is durable on the leader; the replica
 * tracker moves the high watermark once the ISR has it too, parked fetches wake, and the
 * producer is answered once the batch is as safe as its acks ask.
 *
 * @module
 */

import type { FetchWaiter } from "../fetch/fetch_waiter.ts";
import type { HostedPartition } from "../hosted_partition.ts";
import type { LeaderReplication } from "../replication/leader_replication.ts";
import type { ReplicaAckLevel } from "../replication/replica_tracker.ts";

/**
 * Reports the leader durable up to `endOffset`, wakes fetches of `p`, and waits for the acks.
 *
 * @throws {KafkaProtocolError} NOT_ENOUGH_REPLICAS_AFTER_APPEND, REQUEST_TIMED_OUT,
 *   NOT_LEADER_OR_FOLLOWER (leadership ended while waiting)
 */
export async function acknowledge(
  p: HostedPartition,
  leader: LeaderReplication,
  endOffset: number,
  deps: {
    readonly waiter: Pick<FetchWaiter, "notify">;
    readonly acks: number;
    readonly level: ReplicaAckLevel;
  },
): Promise<void> {
  leader.leaderDurable(endOffset);
  deps.waiter.notify(p.key);
  if (deps.acks !== 0 && deps.acks !== 1) await leader.awaitAck(endOffset, deps.level);
}
