import assert from "node:assert/strict";
import { AdminApiError, AdminClient } from "./admin_client.ts";

function fakeFetch(handlers: Record<string, () => Response | Promise<Response>>): {
  fetch: typeof fetch;
  calls: string[];
} {
  const calls: string[] = [];
  const f = (input: string | URL | Request, _init?: RequestInit) => {
    const url = String(input);
    calls.push(url);
    const origin = new URL(url).origin;
    const h = handlers[origin];
    if (h === undefined) return Promise.reject(new TypeError("connection refused"));
    return Promise.resolve(h());
  };
  return { fetch: f as typeof fetch, calls };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

Deno.test("AdminClient skips unreachable and leaderless controllers", async () => {
  const { fetch, calls } = fakeFetch({
    "http://b": () => json(503, { error: { code: "NO_LEADER", message: "no leader" } }),
    "http://c": () => json(200, { topics: [] }),
  });
  const client = new AdminClient({ urls: ["http://a", "http://b", "http://c/"], fetch });
  assert.deepEqual(await client.request("GET", "/api/v1/topics"), { topics: [] });
  assert.deepEqual(calls, [
    "http://a/api/v1/topics",
    "http://b/api/v1/topics",
    "http://c/api/v1/topics",
  ]);
});

Deno.test("AdminClient returns a 4xx at once with the server's message", async () => {
  const { fetch, calls } = fakeFetch({
    "http://a": () =>
      json(409, { error: { code: "TOPIC_ALREADY_EXISTS", message: "Topic 't' already exists" } }),
    "http://b": () => json(201, {}),
  });
  const client = new AdminClient({ urls: ["http://a", "http://b"], fetch });
  await assert.rejects(client.request("POST", "/api/v1/topics", {}), (err: unknown) => {
    assert.ok(err instanceof AdminApiError);
    assert.equal(err.code, "TOPIC_ALREADY_EXISTS");
    assert.match(err.message, /already exists/);
    return true;
  });
  assert.equal(calls.length, 1);
});

Deno.test("AdminClient gives up after its laps with the last failure", async () => {
  const { fetch, calls } = fakeFetch({});
  const client = new AdminClient({ urls: ["http://a", "http://b"], fetch, laps: 2, lapPauseMs: 1 });
  await assert.rejects(client.request("GET", "/x"), { code: "UNAVAILABLE" });
  assert.equal(calls.length, 4);
});
