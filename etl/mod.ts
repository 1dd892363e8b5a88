/**
 * The WebAssembly ETL host: deploy-time module validation against ABI v1 and the Worker pool
 * that runs module chains under the `[etl]` limits. See the README section "WebAssembly ETL".
 *
 * @module
 */

export { AbiInstance, type AbiInstanceOptions, type EtlRecordData } from "./abi_instance.ts";
export { packOutputs, packRecords, unpackOutputs, unpackRecords } from "./record_packing.ts";
export {
  type BatchTransformResult,
  rebasedSequence,
  rebuildBatch,
  transformBatchBytes,
} from "./batch_transform.ts";
export { type EtlOutcome, type EtlRecordFailure, type StageStats } from "./chain_runner.ts";
export { EtlExecutionError, type EtlFailureKind, EtlModuleInvalidError } from "./etl_error.ts";
export {
  MODULE_SIZE_BYTES_MAX_DEFAULT,
  type ModuleLimits,
  sha256Hex,
  type ValidatedModule,
  validateModule,
} from "./module_validation.ts";
export { type EtlModule, EtlPool, EtlPoolBusyError, type EtlPoolOptions } from "./worker_pool.ts";
export { ETL_DISABLED_MESSAGE, etlPoolOptions } from "./etl_config.ts";
