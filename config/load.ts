/**
 * Loading and validating `broker.toml` and `controller.toml`.
 *
 * The pipeline is: read the file, substitute `${VAR}` from the environment, parse TOML with
 * `smol-toml`, check every key against the schema, fill in defaults, apply the `RUSTMQ_*`
 * environment overrides, then check the rules that span keys. Every problem found on the way is
 * collected, so an operator sees all of them in one run rather than one per restart.
 *
 * @module
 */

import { parse as parseToml } from "smol-toml";
import {
  BROKER_ENV_OVERRIDES,
  BROKER_SCHEMA,
  type BrokerConfig,
  CONTROLLER_ENV_OVERRIDES,
  CONTROLLER_SCHEMA,
  type ControllerConfig,
  type FileSchema,
  type KeySpec,
} from "./schema.ts";
import { brokerContradictions, controllerContradictions } from "./rules.ts";
import { ConfigError, type ConfigProblem } from "./config_problem.ts";
import { trackConfigReads } from "./read_tracker.ts";

export { ConfigError, type ConfigProblem, formatProblem } from "./config_problem.ts";

/** Options of {@linkcode loadBrokerConfig} and {@linkcode loadControllerConfig}. */
export interface LoadOptions {
  /** The TOML text; when absent the file at `path` is read. */
  readonly text?: string;
  /** Environment for `${VAR}` substitution and `RUSTMQ_*` overrides. @default Deno.env */
  readonly env?: Readonly<Record<string, string>>;
  /** Values applied after the file and before environment overrides (used by `standalone`). */
  readonly base?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/**
 * Loads a broker configuration.
 *
 * @example
 * ```ts
 * import { loadBrokerConfig } from "./load.ts";
 * import assert from "node:assert/strict";
 * const cfg = loadBrokerConfig("inline.toml", { text: "[wal]\nfsync_on_write = false\n", env: {} });
 * assert.equal(cfg.wal.fsync_on_write, false);
 * assert.equal(cfg.wal.segment_size_bytes, 1073741824);
 * ```
 * @throws {ConfigError} listing every problem found
 */
export function loadBrokerConfig(path: string, options: LoadOptions = {}): BrokerConfig {
  const cfg = _load(path, options, BROKER_SCHEMA, BROKER_ENV_OVERRIDES, brokerContradictions);
  return trackConfigReads("broker", cfg);
}

/**
 * Loads a controller configuration.
 *
 * @throws {ConfigError} listing every problem found
 */
export function loadControllerConfig(path: string, options: LoadOptions = {}): ControllerConfig {
  const cfg = _load(
    path,
    options,
    CONTROLLER_SCHEMA,
    CONTROLLER_ENV_OVERRIDES,
    controllerContradictions,
  );
  return trackConfigReads("controller", cfg);
}

/**
 * Other names accepted for a key, as `section.alias -> key`: the seed's Kubernetes ConfigMap
 * writes `object_storage.type`.
 */
export const KEY_ALIASES: Readonly<Record<string, string>> = {
  "object_storage.type": "storage_type",
};

/** Returns the schema defaults, as a config object. */
export function defaultsOf<T>(schema: FileSchema): T {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, keys] of Object.entries(schema)) {
    out[section] = {};
    for (const [key, spec] of Object.entries(keys)) {
      out[section]![key] = structuredClone(spec.default);
    }
  }
  return out as T;
}

function _load<T>(
  path: string,
  options: LoadOptions,
  schema: FileSchema,
  envOverrides: Readonly<Record<string, readonly [string, string]>>,
  contradictions: (cfg: T, file: string) => ConfigProblem[],
): T {
  const env = options.env ?? Deno.env.toObject();
  const problems: ConfigProblem[] = [];
  let text = options.text;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync(path);
    } catch (err) {
      throw new ConfigError([{ file: path, key: "-", value: "-", reason: `cannot read: ${err}` }], {
        cause: err,
      });
    }
  }
  const substituted = substituteEnv(text, env, path, problems);
  let parsed: Record<string, unknown> = {};
  try {
    parsed = parseToml(substituted) as Record<string, unknown>;
  } catch (err) {
    const msg = err instanceof Error ? err.message.split("\n")[0]! : String(err);
    problems.push({ file: path, key: "-", value: "-", reason: `invalid TOML: ${msg}` });
  }
  const cfg = defaultsOf<Record<string, Record<string, unknown>>>(schema);
  for (const [section, values] of Object.entries(options.base ?? {})) {
    for (const [key, value] of Object.entries(values)) cfg[section]![key] = value;
  }
  _checkTable(parsed, "", schema, path, cfg, problems);
  _applyEnv(env, envOverrides, schema, cfg, problems);
  if (problems.length === 0) problems.push(...contradictions(cfg as T, path));
  if (problems.length > 0) throw new ConfigError(problems);
  return cfg as T;
}

/**
 * Replaces `${VAR}` and `${VAR:-default}` in `text` from `env`. An unset variable without a
 * default is a problem: silently writing an empty string would hide a broken deployment.
 * Substitution happens on the raw text, before parsing, so numbers can come from variables too,
 * as they do in Kubernetes ConfigMaps.
 */
export function substituteEnv(
  text: string,
  env: Readonly<Record<string, string>>,
  file: string,
  problems: ConfigProblem[],
): string {
  // Comment lines are left alone: documentation that mentions ${VAR} must not need it set.
  const substitute = (line: string) =>
    line.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (whole, name, def) => {
      const value = env[name];
      if (value !== undefined) return value;
      if (def !== undefined) return def;
      const reason = `environment variable ${name} is not set`;
      problems.push({ file, key: "-", value: whole, reason });
      return whole;
    });
  return text.split("\n").map((line) => (/^\s*#/.test(line) ? line : substitute(line))).join("\n");
}

function _checkTable(
  table: Record<string, unknown>,
  prefix: string,
  schema: FileSchema,
  file: string,
  cfg: Record<string, Record<string, unknown>>,
  problems: ConfigProblem[],
): void {
  for (const [name, value] of Object.entries(table)) {
    const section = prefix === "" ? name : `${prefix}.${name}`;
    if (prefix === "" && !(section in schema)) {
      const hint = nearest(name, Object.keys(schema).filter((s) => !s.includes(".")));
      problems.push({
        file,
        key: `[${section}]`,
        value: _render(value),
        reason: `unknown section${hint ? `; did you mean '[${hint}]'?` : ""}`,
      });
      continue;
    }
    if (!_isTable(value)) {
      problems.push({ file, key: section, value: _render(value), reason: "expected a table" });
      continue;
    }
    _checkSection(value, section, schema, file, cfg, problems);
  }
}

function _checkSection(
  values: Record<string, unknown>,
  section: string,
  schema: FileSchema,
  file: string,
  cfg: Record<string, Record<string, unknown>>,
  problems: ConfigProblem[],
): void {
  const keys = schema[section]!;
  for (const [given, value] of Object.entries(values)) {
    const alias = KEY_ALIASES[`${section}.${given}`];
    if (alias !== undefined && alias in values) {
      const reason = `is another name for ${section}.${alias}: set only one of them`;
      problems.push({ file, key: `${section}.${given}`, value: _render(value), reason });
      continue;
    }
    const key = alias ?? given;
    const sub = `${section}.${key}`;
    if (_isTable(value) && sub in schema) {
      _checkSection(value, sub, schema, file, cfg, problems);
      continue;
    }
    const spec = keys[key];
    if (spec === undefined) {
      const hint = nearest(key, Object.keys(keys));
      problems.push({
        file,
        key: sub,
        value: _render(value),
        reason: `unknown key${hint ? `; did you mean '${hint}'?` : ""}`,
      });
      continue;
    }
    const reason = checkValue(spec, value);
    if (reason !== null) problems.push({ file, key: sub, value: _render(value), reason });
    else cfg[section]![key] = value;
  }
}

/** Returns why `value` does not fit `spec`, or null when it fits. */
export function checkValue(spec: KeySpec, value: unknown): string | null {
  switch (spec.type) {
    case "string":
      if (typeof value !== "string") return `expected a string, got ${_typeName(value)}`;
      if (spec.oneOf && !spec.oneOf.includes(value)) {
        return `expected one of ${spec.oneOf.map((v) => `"${v}"`).join(", ")}`;
      }
      return null;
    case "bool":
      return typeof value === "boolean" ? null : `expected true or false, got ${_typeName(value)}`;
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) {
        return `expected an integer, got ${_typeName(value)}`;
      }
      return _range(spec, value);
    case "float":
      if (typeof value !== "number") return `expected a number, got ${_typeName(value)}`;
      return _range(spec, value);
    case "string[]":
      if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) {
        return `expected an array of strings, got ${_typeName(value)}`;
      }
      return null;
    case "table":
      return _isTable(value) ? null : `expected a table, got ${_typeName(value)}`;
  }
}

function _range(spec: KeySpec, value: number): string | null {
  if (spec.min !== undefined && value < spec.min) return `must be at least ${spec.min}`;
  if (spec.max !== undefined && value > spec.max) return `must be at most ${spec.max}`;
  return null;
}

function _applyEnv(
  env: Readonly<Record<string, string>>,
  overrides: Readonly<Record<string, readonly [string, string]>>,
  schema: FileSchema,
  cfg: Record<string, Record<string, unknown>>,
  problems: ConfigProblem[],
): void {
  for (const [name, [section, key]] of Object.entries(overrides)) {
    const raw = env[name];
    if (raw === undefined) continue;
    const spec = schema[section]![key]!;
    const value = spec.type === "int" || spec.type === "float" ? _toNumber(raw) : raw;
    const reason = checkValue(spec, value);
    if (reason !== null) {
      problems.push({ file: `<env ${name}>`, key: `${section}.${key}`, value: raw, reason });
    } else {
      cfg[section]![key] = value;
    }
  }
}

function _toNumber(raw: string): number | string {
  const trimmed = raw.trim();
  if (!/^-?\d+(\.\d+)?$/.test(trimmed)) return raw;
  return Number(trimmed);
}

/** The candidate closest to `word` by edit distance, if it is close enough to be a typo. */
export function nearest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  // A suggestion that shares less than half the word is noise, not help.
  return bestDistance <= Math.max(2, Math.floor(word.length / 2)) ? best : null;
}

/** Damerau–Levenshtein (optimal string alignment) distance; transpositions count once. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols).fill(0);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1);
      v = Math.min(v, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[(i - 2) * cols + j - 2]! + 1);
      }
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1]!;
}

function _isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function _typeName(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (_isTable(v)) return "a table";
  if (typeof v === "number") return Number.isInteger(v) ? "an integer" : "a float";
  if (typeof v === "string") return "a string";
  if (typeof v === "boolean") return "a boolean";
  return typeof v;
}

function _render(v: unknown): string {
  if (_isTable(v)) return "{...}";
  return JSON.stringify(v) ?? String(v);
}
