/**
 * The bookkeeping behind exactly-once writes to a BigQuery COMMITTED stream, one partition at a
 * time: pure state, no I/O.
 *
 * Rows of a partition are appended in record order to one stream with explicit offsets. With
 * every Kafka offset K the group commits, a checkpoint goes into the commit's metadata:
 *
 * - `s`: the stream rows are appended to now ("" before one exists);
 * - `x`: how many rows of `s` belong to records below K;
 * - `pre`: how many rows of records at or above K are already in the table in earlier streams;
 * - `gaps`: keys (`offset` or `offset/index`) of rows at or above K that were taken and never
 *   appended (refused, or given up on); they were dead-lettered instead.
 *
 * After a restart the consumer replays from K. Finalizing `s` fences any writer still appending
 * to it and answers its row count N. The table then holds exactly the first `pre + N - x` replayed
 * rows that are not gaps, because rows are appended in replay order and a gap is checkpointed
 * before any later row of its partition is appended. Those rows are skipped; the rest go to a new
 * stream from offset 0.
 *
 * @module
 */

/** The checkpoint committed as the Kafka offset's metadata. */
export interface StreamCheckpoint {
  readonly s: string;
  readonly x: number;
  readonly pre: number;
  readonly gaps: readonly string[];
}

/** What to do with a replayed or new row. */
export type RowFate = "append" | "skip" | "gap";

/** The row key inside its partition: `offset`, or `offset/index` for split records. */
export function rowKey(insertId: string): { key: string; offset: number } {
  // insertId is topic/partition/offset[/index]; topic names cannot contain "/".
  const parts = insertId.split("/");
  const offset = Number(parts[2]);
  return { key: parts.length > 3 ? `${offset}/${parts[3]}` : String(offset), offset };
}

function _keyOffset(key: string): number {
  return Number(key.split("/")[0]);
}

/**
 * Encodes a checkpoint as JSON; runs of single-row keys `a`, `a+1`, … `b` become `"a-b"`, so a
 * whole refused batch stays far below the broker's 4096-byte metadata limit.
 */
export function encodeCheckpoint(c: StreamCheckpoint): string {
  const single = c.gaps.filter((k) => !k.includes("/")).map(Number).sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < single.length;) {
    let j = i;
    while (j + 1 < single.length && single[j + 1] === single[j]! + 1) j++;
    out.push(j > i ? `${single[i]}-${single[j]}` : String(single[i]));
    i = j + 1;
  }
  out.push(...c.gaps.filter((k) => k.includes("/")));
  return JSON.stringify({ v: 1, s: c.s, x: c.x, pre: c.pre, gaps: out });
}

/** Decodes {@linkcode encodeCheckpoint}'s text; "" is null; anything else malformed throws. */
export function decodeCheckpoint(text: string): StreamCheckpoint | null {
  if (text === "") return null;
  const o = JSON.parse(text) as Record<string, unknown>;
  const ok = o.v === 1 && typeof o.s === "string" && Number.isSafeInteger(o.x) &&
    Number.isSafeInteger(o.pre) && Array.isArray(o.gaps) &&
    o.gaps.every((g) => typeof g === "string");
  if (!ok) throw new SyntaxError(`not a stream checkpoint: ${text.slice(0, 200)}`);
  const gaps: string[] = [];
  for (const g of o.gaps as string[]) {
    const m = g.match(/^(\d+)-(\d+)$/);
    if (m === null) gaps.push(g);
    else for (let k = Number(m[1]); k <= Number(m[2]); k++) gaps.push(String(k));
  }
  return { s: o.s as string, x: o.x as number, pre: o.pre as number, gaps };
}

/**
 * One partition's ledger. Built from the checkpoint found at start and the row count of its
 * stream after finalizing; then told about every row in record order.
 */
export class PartitionLedger {
  /** The stream rows are appended to now; "" until one is created. */
  stream = "";
  /** Non-gap replayed rows still to skip: they are in the table already. */
  #skip: number;
  readonly #gaps: Set<string>;
  /** Record offsets of rows in earlier streams (skipped replays, streams left behind). */
  #old: number[] = [];
  /** Record offsets of rows appended to `stream`, oldest first, from `#xBase`. */
  #new: number[] = [];
  /** Rows of `stream` that belong to records below the last checkpoint's offset. */
  #xBase = 0;

  /**
   * `found` is the checkpoint committed with the offset the replay starts from (null: none);
   * `rowCount` is its stream's row count after finalizing (0 without a stream).
   */
  constructor(found: StreamCheckpoint | null, rowCount: number) {
    const skip = found === null ? 0 : found.pre + rowCount - found.x;
    if (skip < 0) {
      throw new RangeError(
        `Cannot resume as the stream holds fewer rows (${rowCount}) than its checkpoint counted (${found?.x})`,
      );
    }
    this.#skip = skip;
    this.#gaps = new Set(found?.gaps ?? []);
  }

  /** Rows still to skip (for logs and tests). */
  get skipping(): number {
    return this.#skip;
  }

  /** The offset of the next append to {@linkcode stream}. */
  get next(): number {
    return this.#xBase + this.#new.length;
  }

  /** Decides a row's fate, in record order: a known gap, already in the table, or to append. */
  classify(key: string, offset: number): RowFate {
    if (this.#gaps.has(key)) return "gap";
    if (this.#skip > 0) {
      this.#skip--;
      this.#old.push(offset);
      return "skip";
    }
    return "append";
  }

  /** Rows appended to the stream at {@linkcode next}, in order. */
  appended(offsets: readonly number[]): void {
    this.#new.push(...offsets);
  }

  /** A row taken and never appended; checkpoint before the next append. */
  dropped(key: string): void {
    this.#gaps.add(key);
  }

  /**
   * Leaves the current stream (after finalizing it) for `stream`: its rows become rows of an
   * earlier stream. Checkpoint before the first append to the new one.
   */
  switchTo(stream: string): void {
    this.#old.push(...this.#new);
    this.#old.sort((a, b) => a - b);
    this.#new = [];
    this.#xBase = 0;
    this.stream = stream;
  }

  /**
   * The checkpoint to commit with offset `k` (every record below `k` is settled). Entries below
   * `k` are dropped: `k` never goes back.
   */
  checkpoint(k: number): StreamCheckpoint {
    let n = 0;
    while (n < this.#new.length && this.#new[n]! < k) n++;
    this.#xBase += n;
    this.#new.splice(0, n);
    this.#old = this.#old.filter((o) => o >= k);
    for (const g of this.#gaps) if (_keyOffset(g) < k) this.#gaps.delete(g);
    return {
      s: this.stream,
      x: this.#xBase,
      pre: this.#old.length + this.#skip,
      gaps: [...this.#gaps],
    };
  }
}
