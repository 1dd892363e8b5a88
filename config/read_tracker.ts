/**
 * Records which configuration keys a role reads after loading, for the inert-key test: a key
 * the schema accepts but no code reads would be accepted and then ignored.
 *
 * Tracking is off unless an observer is installed ({@linkcode observeConfigReads}); then every
 * config the loader returns is wrapped in a proxy that reports each `section.key` read once.
 * Code that only describes a configuration (dynamic config, DescribeConfigs) reads the
 * {@linkcode untracked} object, so describing a key does not count as applying it.
 *
 * @module
 */

/** Called with `role:section.key` the first time a tracked config's key is read. */
export type ConfigReadObserver = (key: string) => void;

let _observer: ConfigReadObserver | null = null;
const _RAW = Symbol("rustmq.config.raw");

/**
 * Installs `observer` until the returned handle is disposed.
 *
 * @example
 * ```ts
 * import { observeConfigReads, trackConfigReads } from "./read_tracker.ts";
 * import assert from "node:assert/strict";
 * const seen: string[] = [];
 * {
 *   using _ = observeConfigReads((k) => seen.push(k));
 *   const cfg = trackConfigReads("broker", { wal: { path: "/w", fsync_on_write: true } });
 *   void cfg.wal.path;
 * }
 * assert.deepEqual(seen, ["broker:wal.path"]);
 * ```
 */
export function observeConfigReads(observer: ConfigReadObserver): Disposable {
  _observer = observer;
  return { [Symbol.dispose]: () => void (_observer = null) };
}

/** Wraps `cfg` when an observer is installed; returns it unchanged otherwise. */
export function trackConfigReads<T extends Record<string, Record<string, unknown>>>(
  role: string,
  cfg: T,
): T {
  const observer = _observer;
  if (observer === null) return cfg;
  const seen = new Set<string>();
  const sections = new Map<string, unknown>();
  return new Proxy(cfg, {
    get(target, section, receiver) {
      if (section === _RAW) return target;
      const value = Reflect.get(target, section, receiver);
      if (typeof section !== "string" || typeof value !== "object" || value === null) return value;
      if (!sections.has(section)) {
        sections.set(
          section,
          new Proxy(value as Record<string, unknown>, {
            get(t, key, r) {
              if (typeof key === "string" && Object.hasOwn(t, key)) {
                const name = `${role}:${section}.${key}`;
                if (!seen.has(name)) {
                  seen.add(name);
                  observer(name);
                }
              }
              return Reflect.get(t, key, r);
            },
          }),
        );
      }
      return sections.get(section);
    },
  });
}

/** The plain object behind a tracked config (or `cfg` itself when it is not tracked). */
export function untracked<T extends object>(cfg: T): T {
  return ((cfg as Record<symbol, unknown>)[_RAW] as T | undefined) ?? cfg;
}
