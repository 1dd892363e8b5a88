/**
 * The Worker side of the ETL pool: it compiles each module once (by sha256), keeps one
 * instance per module, and runs the batches the pool sends. It holds no other state, so the
 * pool can terminate and replace it at any time (timeout, memory limit).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { AbiInstance } from "./abi_instance.ts";
import { type ChainStage, emptyStageStats, runChain } from "./chain_runner.ts";
import { EtlExecutionError } from "./etl_error.ts";
import type { WorkerBatchRequest, WorkerReply, WorkerRequest } from "./worker_protocol.ts";
import { transformBatchBytes } from "./batch_transform.ts";
import type { EtlRecordFailure } from "./chain_runner.ts";
import { packOutputs, unpackRecords } from "./record_packing.ts";

const _stages = new Map<string, ChainStage>();

function _stage(
  ref: WorkerRequest["chain"][number],
  memoryLimitBytes: number,
): ChainStage {
  const cached = _stages.get(ref.sha256);
  if (cached) return cached;
  if (!ref.bytes) throw new Error(`assertion: module ${ref.sha256} sent without bytes`);
  const module = new WebAssembly.Module(ref.bytes as Uint8Array<ArrayBuffer>);
  const onLog = (line: string) => _post({ log: { module: ref.name, line } });
  const recreate = () => AbiInstance.create(module, { name: ref.name, memoryLimitBytes, onLog });
  const stage: ChainStage = { name: ref.name, instance: recreate(), recreate };
  _stages.set(ref.sha256, stage);
  return stage;
}

function _post(reply: WorkerReply, transfer: Transferable[] = []): void {
  self.postMessage(reply, transfer);
}

self.onmessage = (event: MessageEvent<WorkerRequest | WorkerBatchRequest>) => {
  const req = event.data;
  if ("kind" in req) return void _onBatch(req);
  try {
    const stages = req.chain.map((ref) => _stage(ref, req.memoryLimitBytes));
    const stats = emptyStageStats(stages);
    const outcomes = runChain(stages, unpackRecords(req.records, req.count), stats);
    const failures: Record<number, EtlRecordFailure> = {};
    const outputs = packOutputs(outcomes.map((o, i) => {
      if ("records" in o) return o.records;
      failures[i] = o.failure;
      return null;
    }));
    _post({ id: req.id, outputs, failures, stats }, [outputs]);
  } catch (e) {
    if (!(e instanceof EtlExecutionError)) throw e;
    // The pool discards this Worker after a memory failure; drop the instance anyway.
    _stages.delete(req.chain.find((c) => c.name === e.module)?.sha256 ?? "");
    _post({ id: req.id, error: { kind: e.kind, module: e.module, message: e.message } });
  }
};

/** A whole batch: decoded, transformed and re-encoded here, off the broker's main thread. */
async function _onBatch(req: WorkerBatchRequest): Promise<void> {
  let stages: ChainStage[];
  try {
    stages = req.chain.map((ref) => _stage(ref, req.memoryLimitBytes));
  } catch (e) {
    if (!(e instanceof EtlExecutionError)) throw e;
    return _post({ id: req.id, error: { kind: e.kind, module: e.module, message: e.message } });
  }
  const stats = emptyStageStats(stages);
  try {
    const r = await transformBatchBytes(
      stages,
      new Uint8Array(req.batch, 0, req.batchBytes),
      stats,
      { buildOnFailure: req.buildOnFailure },
    );
    const out = r.batch === null ? null : _transferable(r.batch, r.buffer);
    _post({
      id: req.id,
      kind: "batch",
      batch: out?.buffer ?? null,
      batchBytes: out?.bytes ?? 0,
      recordsIn: r.recordsIn,
      recordsOut: r.recordsOut,
      failures: r.failures,
      stats,
      // Decoded and done with: the pool copies a later batch into it, whose pages are mapped.
      returned: req.batch,
    }, out === null ? [req.batch] : [out.buffer, req.batch]);
  } catch (e) {
    if (e instanceof EtlExecutionError) {
      _stages.delete(req.chain.find((c) => c.name === e.module)?.sha256 ?? "");
      return _post({ id: req.id, error: { kind: e.kind, module: e.module, message: e.message } });
    }
    // The batch passed its CRC check, but its records do not decode (a corrupt compressed body).
    _post({ id: req.id, corrupt: e instanceof Error ? e.message : String(e) });
  }
}

/**
 * The buffer to transfer for `batch`, which starts at its offset 0: `buffer` itself when the
 * bytes after the batch are at most 1/16 of it (an identity-sized output fills it exactly),
 * otherwise a copy that holds exactly the batch, so the broker never keeps much memory its log
 * cache does not count.
 */
function _transferable(
  batch: Uint8Array,
  buffer: ArrayBuffer | undefined,
): { buffer: ArrayBuffer; bytes: number } {
  const bytes = batch.byteLength;
  const kept = buffer !== undefined && batch.buffer === buffer && batch.byteOffset === 0 &&
    buffer.byteLength - bytes <= bytes / 16;
  return { buffer: kept ? buffer : batch.slice().buffer, bytes };
}
