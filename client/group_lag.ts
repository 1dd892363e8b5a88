/**
 * A consumer group's lag per partition: committed offset, log end and owner. The admin CLI's
 * `consumer-groups describe` and the controller's REST API both show it.
 *
 * @module
 */

import type { Admin, GroupDescription } from "./admin.ts";
import type { TopicPartitionOffset } from "./group_membership.ts";

/** One partition's committed offset, log end and lag, as `consumer-groups describe` shows it. */
export interface PartitionLag {
  /** Topic. */
  topic: string;
  /** Partition. */
  partition: number;
  /** Committed offset, or null when the group has none. */
  committed: number | null;
  /** High watermark (log end for consumers). */
  logEnd: number;
  /** logEnd minus committed, or null without a committed offset. */
  lag: number | null;
  /** Member id of the owner, or null. */
  owner: string | null;
  /** Client id of the owner, or null. */
  clientId: string | null;
  /** Host of the owner, or null. */
  host: string | null;
}

/**
 * Per-partition committed offset, log end and lag for every partition the group has an offset
 * for or is assigned, with its owner.
 */
export async function describeLag(admin: Admin, group: GroupDescription): Promise<PartitionLag[]> {
  const committed = await admin.fetchOffsets(group.groupId);
  const owners = new Map<string, { memberId: string; clientId: string; host: string }>();
  for (const m of group.members) {
    for (const tp of m.assignment) {
      owners.set(`${tp.topic}\0${tp.partition}`, {
        memberId: m.memberId,
        clientId: m.clientId,
        host: m.clientHost,
      });
    }
  }
  const byKey = new Map<string, TopicPartitionOffset | null>();
  for (const o of committed) byKey.set(`${o.topic}\0${o.partition}`, o);
  for (const key of owners.keys()) if (!byKey.has(key)) byKey.set(key, null);
  const tps = [...byKey.keys()].map((key) => {
    const [topic, partition] = key.split("\0") as [string, string];
    return { topic, partition: Number(partition) };
  }).sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition);
  const ends = await admin.listOffsets(tps, "latest");
  return tps.map((tp, i): PartitionLag => {
    const key = `${tp.topic}\0${tp.partition}`;
    const c = byKey.get(key)?.offset ?? null;
    const logEnd = ends[i]!.offset;
    const owner = owners.get(key);
    return {
      ...tp,
      committed: c,
      logEnd,
      lag: c === null ? null : Math.max(0, logEnd - c),
      owner: owner?.memberId ?? null,
      clientId: owner?.clientId ?? null,
      host: owner?.host ?? null,
    };
  });
}
