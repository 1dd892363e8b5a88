/**
 * Typed errors of the write-ahead log. Each has a stable `code`, a `retriable` flag and a
 * `cause`, so the broker can map them to Kafka error codes (e.g. `WalFullError` to
 * KAFKA_STORAGE_ERROR / retriable) without parsing messages.
 *
 * @module
 */

/** Base class of every WAL error. */
export class WalError extends Error {
  /** Stable machine-readable code. */
  readonly code: string;
  /** Whether the same call may succeed later. */
  readonly retriable: boolean;

  /** @param options.cause the underlying error, if any */
  constructor(code: string, message: string, retriable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.retriable = retriable;
  }
}

/**
 * The WAL has no room: every segment up to `capacityBytes` still holds data not yet
 * checkpointed, and none was freed within the append's wait bound. Retriable: a later
 * `checkpoint()` frees space.
 */
export class WalFullError extends WalError {
  /** Bytes currently allocated to segments. */
  readonly usedBytes: number;
  /** The configured capacity. */
  readonly capacityBytes: number;

  /** Builds the error with the numbers the operator needs. */
  constructor(usedBytes: number, capacityBytes: number, waitedMs: number) {
    super(
      "WAL_FULL",
      `Cannot append to the WAL as it is full: ${usedBytes} of ${capacityBytes} bytes are held ` +
        `by segments not yet checkpointed, and none was freed within ${waitedMs} ms`,
      true,
    );
    this.usedBytes = usedBytes;
    this.capacityBytes = capacityBytes;
  }
}

/** The disk itself is full (ENOSPC/EDQUOT). Retriable once space is freed. */
export class WalDiskFullError extends WalError {
  /** Builds the error around the OS error. */
  constructor(path: string, cause: unknown) {
    super("WAL_DISK_FULL", `Cannot write the WAL segment ${path} as the disk is full`, true, {
      cause,
    });
  }
}

/** Any other I/O failure. Not retriable: the WAL stops accepting appends. */
export class WalIoError extends WalError {
  /** Builds the error around the OS error. */
  constructor(action: string, cause: unknown) {
    super("WAL_IO", `Cannot ${action} as an I/O error occurred`, false, { cause });
  }
}

/**
 * Recovery found damage that is not a torn tail: bytes that were acknowledged as durable are
 * unreadable. Never retriable; an operator must look at the named file.
 */
export class WalCorruptionError extends WalError {
  /** The segment file holding the damage. */
  readonly segmentPath: string;
  /** Byte position of the first damaged or missing entry in that file. */
  readonly position: number;

  /** Builds the error naming the file and byte. */
  constructor(segmentPath: string, position: number, reason: string) {
    super(
      "WAL_CORRUPTION",
      `Cannot recover the WAL as segment ${segmentPath} is corrupt at byte ${position}: ${reason}`,
      false,
    );
    this.segmentPath = segmentPath;
    this.position = position;
  }
}

/** The WAL was closed (or failed) before the append completed. */
export class WalClosedError extends WalError {
  /** Builds the error. */
  constructor(reason = "it is closed") {
    super("WAL_CLOSED", `Cannot append to the WAL as ${reason}`, false);
  }
}
