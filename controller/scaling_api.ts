/**
 * The scaling routes of the admin REST API, mounted by {@linkcode mountAdminApi} under
 * `/api/v1`:
 *
 * | method | path | does |
 * |---|---|---|
 * | GET | /brokers | every broker with its state (active, draining, decommissioned) and partition counts |
 * | POST | /brokers/:id/decommission | take a decommission slot and start draining the broker (202) |
 * | GET | /brokers/:id/decommission | drain progress |
 * | DELETE | /brokers/:id/decommission | cancel (moves under way finish); a decommissioned broker returns to service |
 * | POST | /rebalance | plan `{topic_names?, strategy?, max_concurrent_moves?, dry_run?}`; without `dry_run`, start it (202) |
 * | GET | /rebalance | the current (or latest) rebalance job and its progress |
 * | DELETE | /rebalance | cancel the running rebalance |
 *
 * The leader's {@linkcode ScalingDriver} executes drains and jobs; these routes only read the
 * state and propose commands, so any controller serves them.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import type { ControllerNode } from "./controller_node.ts";
import { MetadataError } from "./metadata/errors.ts";
import { countsAfter, type MovePlan, planBalance, planDrain } from "./metadata/balance_plan.ts";
import type { RebalanceJob } from "./metadata/rebalance_state.ts";
import { planView } from "./scaling_driver.ts";

/** What the REST API needs of the auto-balancer. */
export interface AutoBalancerView {
  /** `GET /api/v1/autobalancer`'s body. */
  view(): unknown;
  /** A `BALANCE_LOAD` plan, or null when no broker has reported load. */
  planLoad(topics?: ReadonlySet<string>): MovePlan | null;
}
import {
  type BrokerRecord,
  hostedBy,
  type MetadataStateMachine,
} from "./metadata/state_machine.ts";

/** Replica moves in flight at once when a rebalance request does not say. */
export const REBALANCE_MOVES_CONCURRENT_DEFAULT = 4;

/** A broker's scaling state. */
export function brokerState(b: BrokerRecord): "active" | "draining" | "decommissioned" {
  return b.decommissioned === true ? "decommissioned" : b.decommissioning ? "draining" : "active";
}

/** A broker as `GET /api/v1/brokers` shows it. */
export function brokerJson(sm: MetadataStateMachine, b: BrokerRecord): Record<string, unknown> {
  const hosted = hostedBy(sm.topics(), b.nodeId);
  return {
    node_id: b.nodeId,
    host: b.host,
    port: b.port,
    rack: b.rack,
    status: b.fenced ? "fenced" : "up",
    epoch: b.epoch,
    decommissioning: b.decommissioning,
    state: brokerState(b),
    replicas: hosted.replicas,
    leaders: hosted.leaders,
  };
}

function _planJson(sm: MetadataStateMachine, plan: MovePlan): Record<string, unknown> {
  const { brokers, partitions } = planView(sm);
  const before = countsAfter(brokers, partitions, { moves: [], blocked: [] });
  const after = countsAfter(brokers, partitions, plan);
  return {
    moves: plan.moves,
    blocked: plan.blocked,
    brokers: before.map((b, i) => ({
      node_id: b.nodeId,
      replicas_before: b.replicas,
      replicas_after: after[i]!.replicas,
      leaders_before: b.leaders,
      leaders_after: after[i]!.leaders,
    })),
  };
}

/** A rebalance job as the API shows it. */
export function jobJson(job: RebalanceJob): Record<string, unknown> {
  const count = (o: string | undefined) => job.moves.filter((m) => m.outcome === o).length;
  return {
    id: job.id,
    strategy: job.strategy,
    topic_names: job.topics,
    max_concurrent_moves: job.maxConcurrentMoves,
    state: job.cancelled ? "cancelled" : job.finished ? "finished" : "running",
    moves_total: job.moves.length,
    moves_pending: count(undefined),
    moves_done: count("done"),
    moves_timed_out: count("timed_out"),
    moves_skipped: count("skipped"),
    moves_cancelled: count("cancelled"),
    moves: job.moves,
  };
}

function _nodeId(c: Context, sm: MetadataStateMachine): BrokerRecord {
  const raw = c.req.param("id") ?? "";
  const id = Number(raw);
  const b = /^\d+$/.test(raw) ? sm.broker(id) : undefined;
  if (b === undefined) {
    throw new MetadataError("BROKER_NOT_REGISTERED", `Broker '${raw}' is not registered`);
  }
  return b;
}

function _drainJson(sm: MetadataStateMachine, b: BrokerRecord): Record<string, unknown> {
  const { brokers, partitions } = planView(sm);
  const pending = b.decommissioning ? planDrain(brokers, partitions, b.nodeId) : null;
  const moving = sm.topics().flatMap((t) =>
    t.partitions.filter((p) =>
      p.targetReplicas !== undefined && p.replicas.includes(b.nodeId) &&
      !p.targetReplicas.includes(b.nodeId)
    ).map((p) => `${t.name}-${p.partition}`)
  );
  return {
    ...brokerJson(sm, b),
    moving,
    blocked: pending?.blocked ?? [],
  };
}

/** Mounts the scaling routes on `api` (the `/api/v1` app, with its auth and errors). */
export function mountScalingApi(
  api: Hono,
  node: ControllerNode,
  balancer: AutoBalancerView | null = null,
): void {
  const sm = node.sm;
  api.get("/brokers", async (c) => {
    await node.linearizableRead();
    return c.json({ brokers: sm.brokers().map((b) => brokerJson(sm, b)) });
  });
  api.post("/brokers/:id/decommission", async (c) => {
    await node.linearizableRead();
    const b = _nodeId(c, sm);
    if (b.decommissioned === true) return c.json(_drainJson(sm, b));
    const r = await node.execute({ v: 1, op: "decommission_start", nodeId: b.nodeId });
    return c.json({ ..._drainJson(sm, sm.broker(b.nodeId)!), ...(r.value as object) }, 202);
  });
  api.get("/brokers/:id/decommission", async (c) => {
    await node.linearizableRead();
    return c.json(_drainJson(sm, _nodeId(c, sm)));
  });
  api.delete("/brokers/:id/decommission", async (c) => {
    await node.linearizableRead();
    const b = _nodeId(c, sm);
    await node.execute({ v: 1, op: "decommission_end", nodeId: b.nodeId });
    return c.json(_drainJson(sm, sm.broker(b.nodeId)!));
  });
  api.post("/rebalance", (c) => _postRebalance(c, node, balancer));
  api.get("/autobalancer", (c) => {
    if (balancer === null) {
      throw new MetadataError("NOT_FOUND", "This controller runs no auto-balancer");
    }
    return c.json(balancer.view());
  });
  api.get("/rebalance", async (c) => {
    await node.linearizableRead();
    const job = sm.state.rebalance;
    if (job === null) throw new MetadataError("NOT_FOUND", "No rebalance has run yet");
    return c.json(jobJson(job));
  });
  api.delete("/rebalance", async (c) => {
    const r = await node.execute({ v: 1, op: "rebalance_cancel" });
    return c.json(jobJson(r.value as RebalanceJob));
  });
}

interface _RebalanceRequest {
  topics: string[] | null;
  strategy: string;
  maxConcurrentMoves: number;
  dryRun: boolean;
}

function _rebalanceRequest(body: Record<string, unknown>): _RebalanceRequest {
  const topics = body.topic_names ?? null;
  if (
    topics !== null &&
    !(Array.isArray(topics) && topics.every((t) => typeof t === "string" && t !== ""))
  ) {
    throw new MetadataError("BAD_REQUEST", "Field 'topic_names' must be a list of topic names");
  }
  const strategy = body.strategy ?? "BALANCE_PARTITIONS";
  if (strategy !== "BALANCE_PARTITIONS" && strategy !== "BALANCE_LOAD") {
    throw new MetadataError(
      "BAD_REQUEST",
      `Field 'strategy' must be BALANCE_PARTITIONS or BALANCE_LOAD: current value is ${
        JSON.stringify(strategy)
      }`,
    );
  }
  const max = body.max_concurrent_moves ?? REBALANCE_MOVES_CONCURRENT_DEFAULT;
  if (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > 1000) {
    throw new MetadataError(
      "BAD_REQUEST",
      `Field 'max_concurrent_moves' must be an integer within 1..1000: current value is ${
        JSON.stringify(max)
      }`,
    );
  }
  const dryRun = body.dry_run ?? false;
  if (typeof dryRun !== "boolean") {
    throw new MetadataError("BAD_REQUEST", "Field 'dry_run' must be a boolean");
  }
  return { topics: topics as string[] | null, strategy, maxConcurrentMoves: max, dryRun };
}

async function _postRebalance(
  c: Context,
  node: ControllerNode,
  balancer: AutoBalancerView | null,
): Promise<Response> {
  const text = await c.req.text();
  let body: unknown = {};
  if (text.trim() !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      throw new MetadataError("BAD_REQUEST", "Body must be a JSON object");
    }
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new MetadataError("BAD_REQUEST", "Body must be a JSON object");
  }
  const req = _rebalanceRequest(body as Record<string, unknown>);
  await node.linearizableRead();
  const sm = node.sm;
  for (const t of req.topics ?? []) {
    if (sm.topic(t) === undefined) {
      throw new MetadataError("UNKNOWN_TOPIC_OR_PARTITION", `Topic '${t}' does not exist`);
    }
  }
  const { brokers, partitions } = planView(sm);
  const topics = req.topics === null ? undefined : new Set(req.topics);
  let plan: MovePlan;
  if (req.strategy === "BALANCE_LOAD") {
    const byLoad = balancer?.planLoad(topics) ?? null;
    if (byLoad === null) {
      throw new MetadataError(
        "BAD_REQUEST",
        "Cannot rebalance with strategy BALANCE_LOAD as no broker has reported load to this " +
          "controller yet (brokers report in every heartbeat): retry, or use BALANCE_PARTITIONS",
      );
    }
    plan = byLoad;
  } else {
    plan = planBalance(brokers, partitions, topics === undefined ? {} : { topics });
  }
  const shown = _planJson(sm, plan);
  if (req.dryRun) return c.json({ dry_run: true, strategy: req.strategy, ...shown });
  const r = await node.execute({
    v: 1,
    op: "rebalance_start",
    id: crypto.randomUUID(),
    strategy: req.strategy,
    topics: req.topics,
    maxConcurrentMoves: req.maxConcurrentMoves,
    moves: plan.moves,
  });
  return c.json({ dry_run: false, ...shown, job: jobJson(r.value as RebalanceJob) }, 202);
}
