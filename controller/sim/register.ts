/**
 * The simulator's state machine: a few registers supporting read, write and compare-and-set.
 *
 * @module
 */

/** A register operation as clients issue it. */
export type RegisterOp =
  | { op: "read"; key: string }
  | { op: "write"; key: string; value: number }
  | { op: "cas"; key: string; expected: number | null; value: number };

/** The command a client proposes: its op plus a unique (client, seq) tag. */
export interface RegisterCommand {
  client: number;
  seq: number;
  op: RegisterOp;
}

/** The outcome of an applied write or cas. */
export interface RegisterResult {
  ok: boolean;
}

/** A map of registers, rebuilt from snapshots and committed entries. */
export class RegisterMachine {
  #values = new Map<string, number>();
  /** The last entry index applied. */
  applied = 0;

  /** The current value of `key`, or null when never written. */
  get(key: string): number | null {
    return this.#values.get(key) ?? null;
  }

  /** Applies the command at `index`; returns its result. */
  apply(index: number, command: RegisterCommand): RegisterResult {
    this.applied = index;
    const { op } = command;
    if (op.op === "write") {
      this.#values.set(op.key, op.value);
      return { ok: true };
    }
    if (op.op === "cas") {
      if (this.get(op.key) !== op.expected) return { ok: false };
      this.#values.set(op.key, op.value);
      return { ok: true };
    }
    return { ok: true };
  }

  /** Marks a non-command entry (a no-op or a config change) as applied. */
  markApplied(index: number): void {
    this.applied = index;
  }

  /** The state as snapshot text. */
  snapshot(): string {
    return JSON.stringify([...this.#values.entries()].sort());
  }

  /** Replaces the state with a snapshot taken at `index`. */
  restore(index: number, data: string): void {
    this.#values = new Map(data === "" ? [] : JSON.parse(data) as [string, number][]);
    this.applied = index;
  }
}
