import { QueueFullError, TimeoutError, type TransportError } from "./errors.ts";

/**
 * One request's lifecycle: it settles exactly once, by response, timeout or
 * connection failure, whichever comes first.
 */
export class _RequestEntry {
  readonly promise: Promise<Uint8Array | null>;
  settled = false;
  #resolve!: (value: Uint8Array | null) => void;
  #reject!: (error: unknown) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(timeoutMs: number, onTimeout: (entry: _RequestEntry) => void) {
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#timer = setTimeout(() => {
      this.fail(new TimeoutError("REQUEST_TIMEOUT", timeoutMs));
      onTimeout(this);
    }, timeoutMs);
  }

  succeed(value: Uint8Array | null): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.#timer);
    this.#resolve(value);
  }

  fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.#timer);
    this.#reject(error);
  }
}

/**
 * Bounded in-flight window with a bounded FIFO queue in front of it. A slot
 * is held from send until the request is finished on the wire, even if its
 * caller already gave up, so the broker never sees more than the limit.
 */
export class _RequestWindow {
  readonly #maxInFlight: number;
  readonly #maxQueued: number;
  readonly #queue: { entry: _RequestEntry; start: () => void }[] = [];
  #inFlight = 0;

  constructor(maxInFlight: number, maxQueued: number) {
    this.#maxInFlight = maxInFlight;
    this.#maxQueued = maxQueued;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Calls `start` when a slot is free; throws `QueueFullError` when it cannot even queue. */
  enter(entry: _RequestEntry, start: () => void): void {
    if (this.#inFlight < this.#maxInFlight && this.#queue.length === 0) {
      this.#inFlight += 1;
      return start();
    }
    if (this.#queue.length >= this.#maxQueued) throw new QueueFullError(this.#maxQueued);
    this.#queue.push({ entry, start });
  }

  /** Drops a request that timed out while still queued. */
  forget(entry: _RequestEntry): void {
    const index = this.#queue.findIndex((waiter) => waiter.entry === entry);
    if (index >= 0) this.#queue.splice(index, 1);
  }

  /** Frees a slot and starts the next queued request, if any. */
  release(): void {
    this.#inFlight -= 1;
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const waiter = this.#queue.shift()!;
      if (waiter.entry.settled) continue;
      this.#inFlight += 1;
      waiter.start();
    }
  }

  /** Fails every queued request. */
  failQueued(error: TransportError): void {
    for (const waiter of this.#queue.splice(0)) waiter.entry.fail(error);
  }
}

/** Validates the per-request options shared by the transports. */
export function _validateTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new RangeError(
      `Cannot send a request as timeoutMs must be a non-negative number: current value is ${timeoutMs}`,
    );
  }
}

/** Returns `value ?? fallback` after checking it is a positive integer. */
export function _validateLimit(name: string, value: number | undefined, fallback: number): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < 1) {
    throw new RangeError(
      `Cannot use ${name} as it must be a positive integer: current value is ${resolved}`,
    );
  }
  return resolved;
}
