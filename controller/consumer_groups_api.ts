/**
 * Consumer-group endpoints of the admin REST API. Groups live on the brokers (their
 * coordinators), so the controller answers as a Kafka client of its own cluster: it bootstraps
 * from the live brokers it knows and uses the SDK's admin operations, the same ones
 * `rustmq admin consumer-groups` uses.
 *
 * - `GET /consumer-groups`: every group and its state.
 * - `GET /consumer-groups/:group`: members, assignments, committed offsets and lag.
 * - `POST /consumer-groups/:group/reset-offsets` `{ "topic", "to": "earliest"|"latest"|N, "execute" }`:
 *   only for an inactive group; without `execute` the plan is returned and nothing changes.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import { RustMqClient } from "../client/client.ts";
import { describeLag } from "../client/group_lag.ts";
import { BrokerError } from "../client/errors.ts";
import { ErrorCode } from "../protocol/kafka/errors.ts";

/** Where the brokers are: `host:port` of each live one. */
export type BrokerBootstrap = () => string[];

const _STATUS: Readonly<Record<string, number>> = {
  GROUP_ID_NOT_FOUND: 404,
  NON_EMPTY_GROUP: 409,
  UNKNOWN_TOPIC_OR_PARTITION: 404,
  INVALID_GROUP_ID: 400,
};

function _fail(c: Context, status: number, code: string, message: string): Response {
  return c.json({ error: { code, message } }, status as 400);
}

async function _withAdmin<T>(
  bootstrap: BrokerBootstrap,
  fn: (client: RustMqClient) => Promise<T>,
): Promise<T> {
  const brokers = bootstrap();
  if (brokers.length === 0) throw new BrokerError(ErrorCode.BROKER_NOT_AVAILABLE);
  const client = await RustMqClient.connect({
    brokers: brokers.map((b) => `tcp://${b}`),
    clientId: "rustmq-controller-admin",
    requestTimeoutMs: 10_000,
    connectTimeoutMs: 5_000,
  });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function _error(c: Context, err: unknown): Response {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === "string") return _fail(c, _STATUS[code] ?? 502, code, message);
  return _fail(c, 500, "INTERNAL", message);
}

/** Adds the consumer-group routes to `api` (mounted under /api/v1). */
export function mountConsumerGroupsApi(api: Hono, bootstrap: BrokerBootstrap): void {
  api.get("/consumer-groups", async (c) => {
    try {
      const groups = await _withAdmin(bootstrap, (client) => client.admin().listGroups());
      return c.json({ groups });
    } catch (err) {
      return _error(c, err);
    }
  });
  api.get("/consumer-groups/:group", async (c) => {
    try {
      const body = await _withAdmin(bootstrap, async (client) => {
        const admin = client.admin();
        const group = await admin.describeGroup(c.req.param("group"));
        return { group, lag: await describeLag(admin, group) };
      });
      return c.json(body);
    } catch (err) {
      return _error(c, err);
    }
  });
  api.post("/consumer-groups/:group/reset-offsets", async (c) => {
    let body: { topic?: unknown; to?: unknown; execute?: unknown };
    try {
      body = await c.req.json();
    } catch {
      return _fail(c, 400, "INVALID_BODY", "Cannot reset offsets as the body is not JSON");
    }
    if (typeof body.topic !== "string" || body.topic === "") {
      return _fail(
        c,
        400,
        "INVALID_FIELD",
        "Cannot reset offsets as field 'topic' must be a topic name",
      );
    }
    const to = body.to;
    if (
      to !== "earliest" && to !== "latest" &&
      !(typeof to === "number" && Number.isSafeInteger(to) && to >= 0)
    ) {
      return _fail(
        c,
        400,
        "INVALID_FIELD",
        "Cannot reset offsets as field 'to' must be earliest, latest or an offset",
      );
    }
    try {
      const plan = await _withAdmin(
        bootstrap,
        (client) =>
          client.admin().resetOffsets(c.req.param("group"), {
            topic: body.topic as string,
            to,
            execute: body.execute === true,
          }),
      );
      return c.json({ executed: body.execute === true, plan });
    } catch (err) {
      return _error(c, err);
    }
  });
}
