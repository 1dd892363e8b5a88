/**
 * Structured logging: one JSON object per line on stderr, with `ts`, `level`, `component`,
 * `msg` and the caller's fields. Every role and library in RustMQ logs through a {@linkcode Logger}
 * handed to it, so tests can capture lines and core code never touches stderr itself.
 *
 * @module
 */

import { LOG_LEVELS } from "../config/schema.ts";
import { LogRateLimiter } from "./log_rate_limiter.ts";

/** A log level, from most to least verbose. */
export type LogLevel = typeof LOG_LEVELS[number];

/** Extra structured fields of a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** The logging interface every component receives. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger for a sub-component, named `parent.child`. */
  child(component: string): Logger;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Lines below this level are dropped. @default "info" */
  readonly level?: LogLevel;
  /**
   * A level that can change while the logger runs (the dynamic `broker.log_level`); shared
   * with child loggers, and used instead of `level` when given.
   */
  readonly levelRef?: { level: LogLevel };
  /** Where lines go. @default a writer to stderr */
  readonly sink?: (line: string) => void;
  /** Time source, as milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
  /**
   * Limits repeated warnings and errors (same component, level and message) and reports what
   * it suppressed; shared with child loggers. `null` writes every line.
   * @default a {@linkcode LogRateLimiter} with 10 lines per kind per minute
   */
  readonly rateLimiter?: LogRateLimiter | null;
}

const _flushers = new WeakMap<Logger, () => void>();

/**
 * Writes the summaries of rate-limit windows that have ended. Summaries are also written
 * whenever the logger writes a line; call this from a timer so they appear even when the
 * logger falls quiet.
 */
export function flushLogSummaries(logger: Logger): void {
  _flushers.get(logger)?.();
}

const _encoder = new TextEncoder();
function _stderrSink(line: string): void {
  Deno.stderr.writeSync(_encoder.encode(line + "\n"));
}

/**
 * Creates a JSON-lines logger.
 *
 * @example
 * ```ts
 * import { createLogger } from "./logger.ts";
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const log = createLogger("broker", { sink: (l) => lines.push(l), now: () => 0 });
 * log.child("wal").info("opened", { segments: 3 });
 * log.debug("dropped below the level");
 * assert.deepEqual(JSON.parse(lines[0]!), {
 *   ts: "1970-01-01T00:00:00.000Z", level: "info", component: "broker.wal", msg: "opened", segments: 3,
 * });
 * assert.equal(lines.length, 1);
 * ```
 */
export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const level = options.levelRef?.level ?? options.level ?? "info";
  if (LOG_LEVELS.indexOf(level) < 0) {
    throw new RangeError(`Cannot create a logger as level '${level}' is unknown`);
  }
  const levelRef = options.levelRef ?? { level };
  const sink = options.sink ?? _stderrSink;
  const now = options.now ?? Date.now;
  const limiter = options.rateLimiter === undefined ? new LogRateLimiter() : options.rateLimiter;
  const write = (lvl: string, comp: string, msg: string, fields?: LogFields) => {
    const line: Record<string, unknown> = {
      ts: new Date(now()).toISOString(),
      level: lvl,
      component: comp,
      msg,
    };
    if (fields) {
      for (const [k, v] of Object.entries(fields)) line[k] = v instanceof Error ? _error(v) : v;
    }
    sink(JSON.stringify(line, _bigintSafe));
  };
  const flush = () => {
    for (const s of limiter?.drain(now()) ?? []) {
      write(s.level, s.component, "Suppressed repeated log lines", {
        repeated: s.msg,
        suppressed: s.suppressed,
        since: new Date(s.sinceMs).toISOString(),
      });
    }
  };
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (LOG_LEVELS.indexOf(lvl) < LOG_LEVELS.indexOf(levelRef.level)) return;
    flush();
    if (
      limiter !== null && (lvl === "warn" || lvl === "error") &&
      !limiter.admit({ component, level: lvl, msg }, now())
    ) return;
    write(lvl, component, msg, fields);
  };
  const logger: Logger = {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (c) => createLogger(`${component}.${c}`, { levelRef, sink, now, rateLimiter: limiter }),
  };
  _flushers.set(logger, flush);
  return logger;
}

/**
 * Flushes `logger`'s rate-limit summaries every `intervalMs` (the process's per-minute report
 * of suppressed lines) until disposed. The timer does not keep the process alive.
 */
export function logSummaryTimer(logger: Logger, intervalMs = 60_000): Disposable {
  const id = setInterval(() => flushLogSummaries(logger), intervalMs);
  Deno.unrefTimer(id);
  return {
    [Symbol.dispose]: () => {
      clearInterval(id);
      flushLogSummaries(logger);
    },
  };
}

/** A logger that drops everything, for tests and library defaults. */
export const silentLogger: Logger = createLogger("silent", { sink: () => {}, level: "error" });

function _error(e: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { name: e.name, message: e.message };
  const code = (e as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  return out;
}

function _bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
