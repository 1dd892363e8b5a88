/**
 * Static checks of the Dockerfile's runtime stage (no Docker engine runs here): it runs as a
 * non-root user that exists in the image, and its HEALTHCHECK probes `/health` on the
 * operations port the roles listen on by default, with a client the image installs.
 */

import assert from "node:assert/strict";
import { BROKER_SCHEMA, CONTROLLER_SCHEMA } from "../config/schema.ts";
import { parseHostPort } from "../config/rules.ts";

const _text = await Deno.readTextFile(new URL("../Dockerfile", import.meta.url));
// Continuation lines joined, comments dropped: one instruction per line.
const _lines = _text.replace(/\\\n/g, " ").split("\n").filter((l) => !/^\s*(#|$)/.test(l));
const _runtime = _lines.slice(_lines.findLastIndex((l) => /^FROM /i.test(l)));

Deno.test("Dockerfile runs as a non-root user it creates", () => {
  const user = _runtime.filter((l) => /^USER /i.test(l)).at(-1);
  assert.ok(user, "the runtime stage sets USER");
  const name = user.split(/\s+/)[1]!.split(":")[0]!;
  assert.notEqual(name, "root");
  assert.notEqual(name, "0");
  assert.ok(
    _runtime.some((l) => /^RUN /.test(l) && new RegExp(`useradd .*\\b${name}\\b`).test(l)),
    `user ${name} is created in the runtime stage`,
  );
  assert.ok(
    _runtime.some((l) => /chown\s+\S*rustmq\S*\s+\/var\/lib\/rustmq/.test(l)),
    "the user owns the data volume",
  );
  const userAt = _runtime.indexOf(user);
  assert.ok(
    _runtime.slice(userAt + 1).every((l) => !/^RUN /.test(l)),
    "nothing runs as root after USER",
  );
});

Deno.test("Dockerfile HEALTHCHECK probes /health on the default operations port", () => {
  const hc = _runtime.find((l) => /^HEALTHCHECK /i.test(l));
  assert.ok(hc, "the runtime stage has a HEALTHCHECK");
  const m = /curl -fsS http:\/\/127\.0\.0\.1:(\d+)\/health/.exec(hc);
  assert.ok(m, hc);
  const port = Number(m[1]);
  assert.equal(port, parseHostPort(BROKER_SCHEMA.network.http_listen.default)!.port);
  assert.equal(port, parseHostPort(CONTROLLER_SCHEMA.controller.http_listen.default)!.port);
  assert.ok(
    _runtime.some((l) => /apt-get install .*\bcurl\b/.test(l)),
    "curl is installed in the runtime stage",
  );
});

Deno.test("k8s pods run as the image's user and can write their volumes", async () => {
  const { parseAllDocuments } = await import("yaml");
  const text = await Deno.readTextFile(new URL("../k8s/rustmq.yaml", import.meta.url));
  const uid = /useradd .*--uid (\d+)/.exec(_text)![1];
  const sets = parseAllDocuments(text).map((d) => d.toJSON()).filter((d) =>
    d?.kind === "StatefulSet"
  );
  assert.ok(sets.length >= 2);
  for (const s of sets) {
    const sc = s.spec.template.spec.securityContext;
    assert.equal(String(sc?.runAsUser), uid, s.metadata.name);
    assert.equal(String(sc?.fsGroup), uid, s.metadata.name);
    assert.equal(sc?.runAsNonRoot, true);
  }
});
