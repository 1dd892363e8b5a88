/**
 * Typed errors of the WebAssembly ETL host: one class for a module refused at deploy time and
 * one for a module that failed while it ran, each with a stable `code` a caller can act on.
 *
 * @module
 */

/** Why a module's run failed; the produce path names this kind in its error message. */
export type EtlFailureKind = "trap" | "timeout" | "memory" | "non_zero_return" | "abi";

/** A module refused by {@linkcode validateModule}: the message says why. */
export class EtlModuleInvalidError extends Error {
  /** Stable code for the REST table (400). */
  readonly code = "ETL_MODULE_INVALID";
  /** Retrying the same bytes fails the same way. */
  readonly retriable = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EtlModuleInvalidError";
  }
}

/** A batch or a record that a module failed to transform. */
export class EtlExecutionError extends Error {
  /** Stable code of this condition. */
  readonly code = "ETL_EXECUTION_FAILED";
  /** A module failure repeats on retry with the same input. */
  readonly retriable = false;
  /** What went wrong. */
  readonly kind: EtlFailureKind;
  /** The module that failed, or the chain's names joined by `,` when the stage is unknown. */
  readonly module: string;
  constructor(kind: EtlFailureKind, module: string, message: string, options?: ErrorOptions) {
    super(`Cannot transform with module '${module}' as it failed (${kind}): ${message}`, options);
    this.name = "EtlExecutionError";
    this.kind = kind;
    this.module = module;
  }
}
