/**
 * A linearizability checker for single-register histories, in the style of Wing and Gong with
 * Lowe's memoisation (as in Knossos and Porcupine). Histories are checked per key, which is
 * sound because registers are independent (linearizability is compositional).
 *
 * @module
 */

/** One operation of a history, as observed by its client. */
export interface HistoryOp {
  client: number;
  key: string;
  kind: "read" | "write" | "cas";
  /** The value written (write, cas). */
  value?: number;
  /** The value a cas expects. */
  expected?: number | null;
  /** When the client invoked it: a strictly increasing event number. */
  invoke: number;
  /**
   * When the client saw the response, or null when it never did (a timed-out write or cas:
   * it may take effect at any later time, or never).
   */
  response: number | null;
  /** The value a read returned. */
  readValue?: number | null;
  /** Whether a cas succeeded. */
  ok?: boolean;
}

/** The verdict for one key. */
export type KeyVerdict = "ok" | "violation" | "unknown";

/** Options of {@linkcode checkLinearizable}. */
export interface CheckOptions {
  /** Operations per key beyond which the key is not checked. @default 400 */
  opsPerKeyMax?: number;
  /** Search states per key before giving up with "unknown". @default 200000 */
  statesPerKeyMax?: number;
}

/** The result of checking a whole history. */
export interface CheckResult {
  ok: boolean;
  /** The first key found not linearizable, with a short explanation. */
  violation: string | null;
  verdicts: Map<string, KeyVerdict>;
}

/**
 * Checks every key of `history` for linearizability against a register starting at null.
 *
 * @example
 * ```ts
 * import { checkLinearizable } from "./linearizability.ts";
 * const r = checkLinearizable([
 *   { client: 1, key: "a", kind: "write", value: 1, invoke: 0, response: 1 },
 *   { client: 2, key: "a", kind: "read", readValue: null, invoke: 2, response: 3 },
 * ]);
 * if (r.ok) throw new Error("a read after a completed write must see it");
 * ```
 */
export function checkLinearizable(
  history: readonly HistoryOp[],
  options: CheckOptions = {},
): CheckResult {
  const opsMax = options.opsPerKeyMax ?? 400;
  const statesMax = options.statesPerKeyMax ?? 200_000;
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  const verdicts = new Map<string, KeyVerdict>();
  let violation: string | null = null;
  for (const [key, ops] of byKey) {
    const verdict = ops.length > opsMax ? "unknown" : _checkKey(ops, statesMax);
    verdicts.set(key, verdict);
    if (verdict === "violation" && violation === null) {
      violation = `key ${key}: no linearization of ${ops.length} operations`;
    }
  }
  return { ok: violation === null, violation, verdicts };
}

/** Applies `op` to `state`; returns the new state, or undefined when the op's result is impossible. */
function _step(state: number | null, op: HistoryOp): number | null | undefined {
  switch (op.kind) {
    case "read":
      return op.readValue === state ? state : undefined;
    case "write":
      return op.value!;
    case "cas": {
      const matches = state === op.expected;
      if (op.response === null) return matches ? op.value! : state;
      if (op.ok !== matches) return undefined;
      return matches ? op.value! : state;
    }
  }
}

function _checkKey(ops: readonly HistoryOp[], statesMax: number): KeyVerdict {
  // Reads that never answered constrain nothing; drop them up front.
  const list = ops.filter((o) => !(o.kind === "read" && o.response === null));
  const n = list.length;
  const mustCount = list.filter((o) => o.response !== null).length;
  const responses = list.map((o) => o.response ?? Infinity);
  const seen = new Set<string>();
  const done = new Uint8Array(n);
  let states = 0;
  let unknown = false;

  const search = (state: number | null, linearizedMust: number): boolean => {
    if (linearizedMust === mustCount) return true;
    const memo = `${state}|${done.join("")}`;
    if (seen.has(memo)) return false;
    seen.add(memo);
    if (++states > statesMax) {
      unknown = true;
      return false;
    }
    // An op may go next only if it was invoked before every pending op's response.
    let minResponse = Infinity;
    for (let i = 0; i < n; i++) {
      if (done[i] === 0 && responses[i]! < minResponse) minResponse = responses[i]!;
    }
    for (let i = 0; i < n; i++) {
      if (done[i] !== 0 || list[i]!.invoke > minResponse) continue;
      const next = _step(state, list[i]!);
      if (next === undefined) continue;
      done[i] = 1;
      const found = search(next, linearizedMust + (list[i]!.response === null ? 0 : 1));
      done[i] = 0;
      if (found) return true;
      if (unknown) return false;
    }
    return false;
  };

  if (search(null, 0)) return "ok";
  return unknown ? "unknown" : "violation";
}
