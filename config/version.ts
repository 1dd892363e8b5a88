/**
 * The RustMQ version, taken from `deno.json` at build time (a JSON import is embedded by
 * `deno compile`, so the binary never reads the file at run time).
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };

/** The version of this build. */
export const VERSION: string = denoJson.version;
