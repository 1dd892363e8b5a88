/**
 * The admin REST API, mounted on the controller's operations app (`http_listen`, 9642):
 *
 * | method | path | does |
 * |---|---|---|
 * | POST | /api/v1/topics | create `{name, partitions, replication_factor, configs?, etl_modules?}` (201) |
 * | GET | /api/v1/topics | list topics |
 * | GET | /api/v1/topics/:name | describe a topic (404 when unknown) |
 * | PUT | /api/v1/topics/:name | change `{configs?, etl_modules?, partitions?}` |
 * | DELETE | /api/v1/topics/:name | delete |
 * | GET | /api/v1/cluster/health | leader, voters, brokers up/down, offline/under-replicated partitions |
 * | GET | /api/v1/brokers | registered brokers, their state and partition counts (scaling_api.ts) |
 * | POST, GET, DELETE | /api/v1/brokers/:id/decommission, /api/v1/rebalance | decommission and rebalance (scaling_api.ts) |
 * | GET | /api/v1/metrics | controller figures as JSON |
 * | POST, GET, DELETE | /api/v1/wasm/modules[/:name] | the ETL module registry (wasm_modules_api.ts) |
 *
 * Writes go through the Raft log (a follower forwards them to the leader); topic and broker reads
 * are linearizable (ReadIndex). Errors are `{ error: { code, message, field? } }` with the status
 * of `HTTP_STATUS_OF_CODE`. With `controller.admin_token` set, writes need
 * `Authorization: Bearer <token>`: 401 without one, 403 with a wrong one.
 *
 * @module
 */

import { mountConsumerGroupsApi } from "./consumer_groups_api.ts";
import { mountWasmModulesApi } from "./wasm_modules_api.ts";
import { mountSecurityApi } from "./security_api.ts";
import {
  etlChainJson,
  etlModulesConfigs,
  partitionCountField,
  seedCreateConfigs,
  TopicFieldError,
} from "./topic_body_fields.ts";
import { type AutoBalancerView, mountScalingApi } from "./scaling_api.ts";
import { Hono } from "hono";
import type { Context } from "hono";
import type { ControllerNode } from "./controller_node.ts";
import { HTTP_STATUS_OF_CODE, MetadataError, toWireError } from "./metadata/errors.ts";
import { partitionHealth, type TopicRecord } from "./metadata/state_machine.ts";
import { randomTopicId } from "../model/cluster_metadata.ts";

/** Options of {@linkcode mountAdminApi}. */
export interface AdminApiOptions {
  /** Bearer token guarding writes; empty or absent means none. */
  adminToken?: string;
  /** Serves `GET /api/v1/autobalancer` and `BALANCE_LOAD` plans. @default null */
  autoBalancer?: AutoBalancerView | null;
  /** Largest request body. @default 1048576 */
  bodyBytesMax?: number;
  /**
   * Why `/users` and `/acls` are refused here, if they are: standalone keeps users and ACLs in
   * its broker's file, which this API does not reach.
   */
  securityRefusal?: string;
}

/** A 400 that names the offending field. */
const _FieldError = TopicFieldError;

/** A topic as the API shows it; with `node`, its ETL chain with module versions too. */
export function topicJson(t: TopicRecord, node?: ControllerNode): Record<string, unknown> {
  return {
    ...(node === undefined ? {} : { etl_modules: etlChainJson(t, node.sm) }),
    name: t.name,
    topic_id: t.topicId,
    partitions: t.partitions.length,
    replication_factor: t.partitions[0]?.replicas.length ?? 0,
    configs: Object.fromEntries(Object.entries(t.config).map(([k, v]) => [k, String(v)])),
    partition_details: t.partitions.map((p) => ({
      partition: p.partition,
      leader: p.leader,
      leader_epoch: p.leaderEpoch,
      replicas: p.replicas,
      isr: p.isr,
    })),
  };
}

/**
 * Mounts the admin API under `/api/v1` on `app`.
 *
 * @example
 * ```ts ignore
 * const { app } = createOpsApp({ role: "controller", version });
 * mountAdminApi(app, node, { adminToken: cfg.controller.admin_token });
 * ```
 */
export function mountAdminApi(
  app: Hono,
  node: ControllerNode,
  options: AdminApiOptions = {},
): void {
  const token = options.adminToken ?? "";
  const bodyMax = options.bodyBytesMax ?? 1024 * 1024;
  const api = new Hono();
  api.onError((err, c) => _error(c, err));
  api.use("*", async (c, next) => {
    if (token !== "" && c.req.method !== "GET" && c.req.method !== "HEAD") {
      const auth = c.req.header("authorization");
      if (auth === undefined) {
        return _error(
          c,
          new MetadataError("UNAUTHORIZED", "Cannot write as no bearer token was sent"),
        );
      }
      if (auth !== `Bearer ${token}`) {
        return _error(
          c,
          new MetadataError("FORBIDDEN", "Cannot write as the bearer token is wrong"),
        );
      }
    }
    await next();
  });

  api.post("/topics", async (c) => {
    const body = await _body(c, bodyMax);
    const name = _string(body, "name");
    const partitions = _int({ partitions: partitionCountField(body) }, "partitions", 1);
    const rf = _int(body, "replication_factor", 1);
    const configs = { ...seedCreateConfigs(body), ..._configs(body), ...etlModulesConfigs(body) };
    const r = await node.execute({
      v: 1,
      op: "create_topic",
      name,
      partitions,
      replicationFactor: rf,
      configs,
      topicId: randomTopicId(),
    }, _key(c));
    return c.json(topicJson(r.value as TopicRecord, node), 201);
  });
  api.get("/topics", async (c) => {
    await node.linearizableRead();
    const topics = node.sm.topics().map((t) => ({
      name: t.name,
      partitions: t.partitions.length,
      replication_factor: t.partitions[0]?.replicas.length ?? 0,
    }));
    return c.json({ topics });
  });
  api.get("/topics/:name", async (c) => {
    await node.linearizableRead();
    const t = node.sm.topic(c.req.param("name"));
    if (t === undefined) throw _unknownTopic(c.req.param("name"));
    return c.json(topicJson(t, node));
  });
  api.put("/topics/:name", (c) => _putTopic(c, node, bodyMax));
  api.delete("/topics/:name", async (c) => {
    const name = c.req.param("name");
    await node.execute({ v: 1, op: "delete_topic", name }, _key(c));
    return c.json({ deleted: name });
  });
  api.get("/cluster/health", (c) => c.json(clusterHealth(node)));
  // Moves a partition to a new replica set: new replicas catch up first, then old ones leave.
  api.post("/topics/:name/partitions/:partition/reassign", async (c) => {
    const body = await c.req.json().catch(() => null) as { replicas?: unknown } | null;
    const replicas = body?.replicas;
    if (!Array.isArray(replicas) || replicas.some((r) => !Number.isInteger(r))) {
      throw new _FieldError(
        "replicas",
        "Cannot reassign as field 'replicas' must be a list of broker ids",
      );
    }
    const partition = Number(c.req.param("partition"));
    const result = await node.execute({
      v: 1,
      op: "reassign_partition",
      topic: c.req.param("name"),
      partition,
      replicas: replicas as number[],
    }, _key(c));
    return c.json(result.value as Record<string, unknown>);
  });
  // Moves leadership back to preferred replicas (first in each replica list) that are in sync.
  api.post("/cluster/preferred-leader-election", async (c) => {
    const raw = await c.req.text();
    let topic: string | undefined;
    if (raw.trim() !== "") {
      const body = JSON.parse(raw) as { topic?: unknown };
      if (body.topic !== undefined && typeof body.topic !== "string") {
        throw new _FieldError(
          "topic",
          "Cannot elect preferred leaders as field 'topic' must be a string",
        );
      }
      topic = body.topic;
    }
    const result = await node.execute(
      { v: 1, op: "elect_preferred_leaders", ...(topic === undefined ? {} : { topic }) },
      _key(c),
    );
    return c.json(result.value as Record<string, unknown>);
  });
  api.get("/metrics", (c) => c.json(_metrics(node)));
  // The object manifest: what object storage holds and which offset ranges each object serves.
  api.get("/objects", async (c) => {
    await node.linearizableRead();
    const objects = node.sm.state.manifest.objects.map((o) => ({
      object_key: o.objectKey,
      size_bytes: o.sizeBytes,
      created_ms: o.createdMs,
      ranges: o.ranges.map((r) => ({
        partition: r.key,
        base_offset: r.baseOffset,
        last_offset: r.lastOffset,
      })),
    }));
    return c.json({ objects });
  });
  mountWasmModulesApi(api, node);
  mountSecurityApi(api, node, {
    body: (c) => _body(c, bodyMax),
    ...(options.securityRefusal === undefined ? {} : { refusal: options.securityRefusal }),
  });
  mountScalingApi(api, node, options.autoBalancer ?? null);
  mountConsumerGroupsApi(
    api,
    () => node.sm.brokers().filter((b) => !b.fenced).map((b) => `${b.host}:${b.port}`),
  );
  api.all(
    "*",
    (c) => _error(c, new MetadataError("NOT_FOUND", `No route ${c.req.method} ${c.req.path}`)),
  );
  app.route("/api/v1", api);
}

async function _putTopic(c: Context, node: ControllerNode, bodyMax: number): Promise<Response> {
  const name = c.req.param("name")!;
  const body = await _body(c, bodyMax);
  const hasConfigs = body.configs !== undefined || body.etl_modules !== undefined;
  const hasPartitions = body.partitions !== undefined;
  if (!hasConfigs && !hasPartitions) {
    throw new _FieldError("configs", "Body must set 'configs', 'etl_modules' or 'partitions'");
  }
  const partitions = hasPartitions ? _int(body, "partitions", 1) : 0;
  const configs = hasConfigs ? { ..._configs(body), ...etlModulesConfigs(body) } : {};
  let topic: TopicRecord | undefined;
  if (hasConfigs) {
    topic = (await node.execute(
      { v: 1, op: "alter_topic_config", name, configs },
      _key(c, ":configs"),
    )).value as TopicRecord;
  }
  if (hasPartitions) {
    await node.linearizableRead();
    const current = node.sm.topic(name);
    if (current === undefined) throw _unknownTopic(name);
    if (partitions !== current.partitions.length) {
      topic = (await node.execute(
        { v: 1, op: "create_partitions", name, totalCount: partitions },
        _key(c, ":partitions"),
      )).value as TopicRecord;
    } else topic = current;
  }
  return c.json(topicJson(topic!, node));
}

/** The cluster health report served at `/api/v1/cluster/health`. */
export function clusterHealth(node: ControllerNode): Record<string, unknown> {
  const status = node.status();
  const brokers = node.sm.brokers();
  const up = brokers.filter((b) => !b.fenced).map((b) => b.nodeId);
  const down = brokers.filter((b) => b.fenced).map((b) => b.nodeId);
  const topics = node.sm.topics();
  const counts = partitionHealth(topics);
  const offline: string[] = [];
  const under: string[] = [];
  for (const t of topics) {
    for (const p of t.partitions) {
      if (p.leader === -1) offline.push(`${t.name}-${p.partition}`);
      if (p.isr.length < p.replicas.length) under.push(`${t.name}-${p.partition}`);
    }
  }
  const voters = status.voters.map((id) => {
    const peer = status.peers.find((p) => p.id === id);
    return {
      node_id: id,
      role: id === status.leaderId ? "leader" : "follower",
      self: id === status.id,
      reachable: id === status.id || (peer?.lastHeardAgoMs != null && peer.lastHeardAgoMs < 5000),
      last_heard_ms_ago: id === status.id ? 0 : peer?.lastHeardAgoMs ?? null,
    };
  });
  const healthy = status.leaderId !== null && counts.offline === 0 && down.length === 0 &&
    counts.underReplicated === 0;
  return {
    status: status.leaderId === null ? "unavailable" : healthy ? "healthy" : "degraded",
    cluster_id: node.sm.clusterId,
    node_id: status.id,
    leader: status.leaderId,
    term: status.term,
    commit_index: status.commit,
    applied_index: node.sm.applied,
    voters,
    brokers: {
      total: brokers.length,
      up: up.length,
      down: down.length,
      up_ids: up,
      down_ids: down,
    },
    partitions: {
      total: counts.total,
      offline: counts.offline,
      under_replicated: counts.underReplicated,
      offline_list: offline.slice(0, 1000),
      under_replicated_list: under.slice(0, 1000),
    },
  };
}

function _metrics(node: ControllerNode): Record<string, unknown> {
  const s = node.status();
  const counts = partitionHealth(node.sm.topics());
  const brokers = node.sm.brokers();
  return {
    node_id: s.id,
    role: s.role,
    leader: s.leaderId,
    term: s.term,
    commit_index: s.commit,
    applied_index: node.sm.applied,
    last_index: s.lastIndex,
    snapshot_index: s.snapshotIndex,
    topics: node.sm.topics().length,
    partitions: counts.total,
    offline_partitions: counts.offline,
    under_replicated_partitions: counts.underReplicated,
    brokers_up: brokers.filter((b) => !b.fenced).length,
    brokers_down: brokers.filter((b) => b.fenced).length,
    manifest_objects: node.sm.state.manifest.objects.length,
  };
}

/** The request's `Idempotency-Key` (plus a suffix per command it becomes), as execute options. */
function _key(c: Context, suffix = ""): { requestKey?: string } {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return {};
  if (key.length === 0 || key.length > 100) {
    throw new _FieldError("Idempotency-Key", "Header 'Idempotency-Key' must be 1..100 characters");
  }
  return { requestKey: `http:${key}${suffix}` };
}

function _unknownTopic(name: string): MetadataError {
  return new MetadataError("UNKNOWN_TOPIC_OR_PARTITION", `Topic '${name}' does not exist`);
}

function _error(c: Context, err: unknown): Response {
  const wire = toWireError(err);
  let status = HTTP_STATUS_OF_CODE[wire.code] ?? 500;
  // Topic validation raises its Kafka codes; any other non-metadata error is a server fault.
  if (wire.code === "INTERNAL") status = 500;
  const body: Record<string, unknown> = { code: wire.code, message: wire.message };
  if (err instanceof TopicFieldError) body.field = err.field;
  if (wire.leaderId !== undefined) body.leader = wire.leaderId;
  return c.json({ error: body }, status as 400);
}

async function _body(c: Context, bodyMax: number): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (new TextEncoder().encode(text).length > bodyMax) {
    throw new MetadataError("PAYLOAD_TOO_LARGE", `Body must be at most ${bodyMax} bytes`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new _FieldError("body", "Body must be a JSON object");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new _FieldError("body", "Body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

function _string(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (typeof v !== "string" || v === "") {
    throw new _FieldError(field, `Field '${field}' must be a non-empty string`);
  }
  return v;
}

function _int(body: Record<string, unknown>, field: string, min: number): number {
  const v = body[field];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new _FieldError(
      field,
      `Field '${field}' must be an integer >= ${min}: current value is ${
        JSON.stringify(v ?? null)
      }`,
    );
  }
  return v;
}

function _configs(body: Record<string, unknown>): Record<string, string | null> {
  const v = body.configs;
  if (v === undefined) return {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new _FieldError("configs", "Field 'configs' must be an object of strings");
  }
  const out: Record<string, string | null> = {};
  for (const [k, raw] of Object.entries(v)) {
    if (raw === null) out[k] = null;
    else if (["string", "number", "boolean"].includes(typeof raw)) out[k] = String(raw);
    else throw new _FieldError("configs", `Field 'configs.${k}' must be a string`);
  }
  return out;
}
