/**
 * Failpoints: named places in the code where a crash test can make the process die at an exact
 * moment (as in TiKV and FoundationDB). They are read once from `RUSTMQ_FAILPOINTS`, a
 * comma-separated list of names, so a production process, which never sets it, pays one Set
 * lookup per pass. The only action is SIGKILL of the process itself: the point is to prove that
 * recovery is correct whatever was in flight.
 *
 * @module
 */

let _armed: Set<string> | null = null;

function _load(): Set<string> {
  let raw = "";
  try {
    raw = Deno.env.get("RUSTMQ_FAILPOINTS") ?? "";
  } catch {
    // Without --allow-env there are no failpoints.
  }
  return new Set(raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0));
}

/**
 * Kills the process with SIGKILL if failpoint `name` is armed.
 *
 * @example
 * ```ts
 * import { failpoint } from "./failpoints.ts";
 * failpoint("never-armed"); // a no-op unless RUSTMQ_FAILPOINTS names it
 * ```
 */
export function failpoint(name: string): void {
  _armed ??= _load();
  if (_armed.size === 0 || !_armed.has(name)) return;
  Deno.stderr.writeSync(new TextEncoder().encode(`failpoint ${name}: killing the process\n`));
  Deno.kill(Deno.pid, "SIGKILL");
}

/**
 * Pauses for N milliseconds if `RUSTMQ_FAILPOINTS` names `name=N`: a test widens a window that
 * is otherwise too short to hit (start-up between binding the listeners and serving) without
 * changing what happens in it. Resolves at once when not armed.
 */
export function failpointPause(name: string): Promise<void> {
  _armed ??= _load();
  if (_armed.size === 0) return Promise.resolve();
  const prefix = `${name}=`;
  for (const entry of _armed) {
    if (!entry.startsWith(prefix)) continue;
    const ms = Number(entry.slice(prefix.length));
    if (!Number.isFinite(ms) || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
  return Promise.resolve();
}
