/**
 * The metadata image brokers receive: the whole state at one log index, then deltas. Shared by
 * the controller's BrokerService and the broker-side cache, so both agree on the format.
 *
 * @module
 */

import type { ManifestState } from "./manifest_state.ts";
import type {
  BrokerRecord,
  MetadataDelta,
  MetadataStateMachine,
  TopicRecord,
  WasmModuleSummary,
} from "./state_machine.ts";
import { wasmModuleSummaries } from "./state_machine.ts";
import type { AclBinding, ScramUsers } from "../../model/security_metadata.ts";

/** The whole metadata at `index`. */
export interface MetadataImage {
  v: 1;
  index: number;
  clusterId: string;
  brokers: BrokerRecord[];
  topics: TopicRecord[];
  manifest: ManifestState;
  /** WebAssembly modules without their bytes (absent from controllers before ETL). */
  wasmModules?: WasmModuleSummary[];
  /** SCRAM users (salts and keys only) and ACLs (absent from controllers before security). */
  users?: ScramUsers;
  acls?: AclBinding[];
}

/** One event of a `WatchMetadata` stream: an image first (and after a snapshot), then deltas. */
export type WatchEvent =
  | { v: 1; type: "image"; image: MetadataImage }
  | { v: 1; type: "delta"; delta: MetadataDelta };

/** The image of a state machine's current state. */
export function imageOf(sm: MetadataStateMachine): MetadataImage {
  const s = sm.state;
  return structuredClone({
    v: 1,
    index: sm.applied,
    clusterId: s.clusterId,
    brokers: s.brokers,
    topics: Object.values(s.topics),
    manifest: s.manifest,
    wasmModules: wasmModuleSummaries(s.wasmModules),
    users: s.users,
    acls: s.acls,
  });
}
