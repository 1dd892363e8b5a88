/**
 * Checks `wal.capacity_bytes` against the room the WAL's filesystem really has, at start. A
 * capacity above it is a promise the disk cannot keep: the WAL would take appends until a
 * write fails with ENOSPC. So the broker refuses to start, naming both numbers, unless
 * `wal.clamp_capacity_to_disk` asks it to lower the capacity (with a warning).
 *
 * @module
 */

import { filesystemSpace } from "../ffi/statvfs.ts";
import type { Logger } from "../ops/logger.ts";

/** The capacity is larger than the filesystem can hold, and clamping was not asked for. */
export class WalCapacityError extends Error {
  readonly code = "WAL_CAPACITY_EXCEEDS_DISK";
  readonly retriable = false;
  constructor(message: string) {
    super(message);
    this.name = "WalCapacityError";
  }
}

/** What {@linkcode decideWalCapacity} weighs. */
export interface WalCapacityInput {
  readonly path: string;
  readonly capacityBytes: number;
  readonly segmentBytes: number;
  /** Free bytes on the filesystem. */
  readonly availableBytes: number;
  /** Bytes the WAL's files already take (they count towards its capacity). */
  readonly heldBytes: number;
  readonly clamp: boolean;
}

/**
 * The capacity to run with: the configured one when the disk has room for it, else (when
 * clamping) the room rounded down to whole segments. Pure, for tests.
 *
 * @throws {WalCapacityError} when the disk lacks room and clamping is off, or room for two
 *   segments is lacking even so
 */
export function decideWalCapacity(
  input: WalCapacityInput,
): { capacityBytes: number; clamped: boolean } {
  const room = input.availableBytes + input.heldBytes;
  if (input.capacityBytes <= room) return { capacityBytes: input.capacityBytes, clamped: false };
  const numbers = `wal.capacity_bytes is ${input.capacityBytes} but the filesystem of ` +
    `${input.path} has room for ${room} bytes (${input.availableBytes} free, ` +
    `${input.heldBytes} held by the WAL)`;
  if (!input.clamp) {
    throw new WalCapacityError(
      `Cannot start as ${numbers}: lower wal.capacity_bytes, free space, or set ` +
        `wal.clamp_capacity_to_disk = true`,
    );
  }
  const clamped = Math.floor(room / input.segmentBytes) * input.segmentBytes;
  if (clamped < 2 * input.segmentBytes) {
    throw new WalCapacityError(
      `Cannot start as ${numbers}, less than two segments of ${input.segmentBytes} bytes`,
    );
  }
  return { capacityBytes: clamped, clamped: true };
}

/**
 * Measures the WAL's filesystem and decides the capacity; logs a warning when it clamps. Where
 * free space cannot be measured (no glibc or FFI), keeps the configured capacity and says so.
 */
export async function checkWalCapacity(
  options: Omit<WalCapacityInput, "availableBytes" | "heldBytes">,
  logger: Logger,
): Promise<number> {
  await Deno.mkdir(options.path, { recursive: true });
  const space = filesystemSpace(options.path);
  if (space === null) {
    logger.warn("cannot measure the WAL filesystem's free space; capacity_bytes is not checked", {
      path: options.path,
    });
    return options.capacityBytes;
  }
  let heldBytes = 0;
  for await (const entry of Deno.readDir(options.path)) {
    if (entry.isFile) heldBytes += (await Deno.stat(`${options.path}/${entry.name}`)).size;
  }
  const decided = decideWalCapacity({
    ...options,
    availableBytes: space.availableBytes,
    heldBytes,
  });
  if (decided.clamped) {
    logger.warn("clamped wal.capacity_bytes to the room on the WAL filesystem", {
      path: options.path,
      configuredBytes: options.capacityBytes,
      capacityBytes: decided.capacityBytes,
      availableBytes: space.availableBytes,
      heldBytes,
    });
  }
  return decided.capacityBytes;
}
