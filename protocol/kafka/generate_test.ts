import assert from "node:assert/strict";
import {
  formatFiles,
  generate,
  GENERATED_APIS,
  parseVersions,
  stripJsonComments,
} from "./generate.ts";

const SCHEMA_DIR = new URL("../../../shared/kafka-protocol/message", import.meta.url).pathname;
const HAVE_SCHEMAS = (() => {
  try {
    return Deno.statSync(SCHEMA_DIR).isDirectory;
  } catch {
    return false;
  }
})();

Deno.test("parseVersions reads every Kafka version spec", () => {
  assert.deepEqual(parseVersions("0+"), { min: 0, max: 0x7fff });
  assert.deepEqual(parseVersions("3-5"), { min: 3, max: 5 });
  assert.deepEqual(parseVersions("7"), { min: 7, max: 7 });
  assert.equal(parseVersions("none"), null);
  assert.equal(parseVersions(undefined), null);
});

Deno.test("stripJsonComments keeps // inside strings", () => {
  const text = '// header\n{ "a": "http://x", // trailing\n "b": "q\\"//" }';
  assert.deepEqual(JSON.parse(stripJsonComments(text)), { a: "http://x", b: 'q"//' });
});

Deno.test({
  name: "generate reproduces the committed files exactly",
  // The schemas live in ../shared, beside a checkout; without them there is nothing to compare.
  ignore: !HAVE_SCHEMAS,
  fn() {
    const out = Deno.makeTempDirSync();
    try {
      const written = generate(SCHEMA_DIR, out);
      formatFiles(written, new URL("../../deno.json", import.meta.url).pathname);
      // One file per API, then descriptors.ts, messages/mod.ts and api_keys.ts.
      assert.equal(written.length, GENERATED_APIS.length + 3);
      for (const path of written) {
        const rel = path.slice(out.length + 1);
        const committed = Deno.readTextFileSync(new URL(rel, import.meta.url));
        assert.equal(Deno.readTextFileSync(path), committed, `${rel} is stale: rerun generate.ts`);
      }
    } finally {
      Deno.removeSync(out, { recursive: true });
    }
  },
});
