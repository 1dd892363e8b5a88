/**
 * The controller's metadata state machine: brokers and their liveness, topics and configs,
 * partitions (replicas, leader, leader epoch, ISR), producer-id blocks, the object manifest and
 * decommission slots. It is applied from committed Raft entries on every controller, so `apply`
 * is deterministic: it reads no clock and draws no random number, and it decides every outcome
 * (including refusals) from the state and the command alone.
 *
 * @module
 */

import type { ManifestObject, PartitionTierState } from "../../model/object_manifest.ts";
import {
  ETL_MODULES_KEY,
  etlChainOf,
  etlTopicConfigProblem,
} from "../../model/etl_topic_config.ts";
import {
  InvalidTopicError,
  parseTopicConfig,
  TOPIC_CONFIG_DEFAULTS,
  TOPIC_PARTITIONS_MAX,
  type TopicConfig,
  validateTopicName,
} from "../../model/topic_config.ts";
import {
  type AclBinding,
  aclBindingProblem,
  aclFilterProblem,
  aclMatches,
  sameAcl,
  SCRAM_MECHANISM_NAMES,
  type ScramMechanismName,
  type ScramUsers,
  storedCredentialProblem,
  userNameProblem,
} from "../../model/security_metadata.ts";
import type {
  AlterIsrCommand,
  BrokerEndpoint,
  CreateAclsCommand,
  CreateTopicCommand,
  DeleteAclsCommand,
  DeleteScramCredentialsCommand,
  DeployWasmModuleCommand,
  FenceBrokerCommand,
  ImportLocalCommand,
  MetadataCommand,
  RegisterBrokerCommand,
  UpsertScramCredentialCommand,
} from "./commands.ts";
import { MetadataError, toWireError, type WireError } from "./errors.ts";
import {
  emptyManifest,
  manifestAdvanceLogStart,
  type ManifestChange,
  manifestCommitCompaction,
  manifestCommitUpload,
  ManifestIndex,
  manifestRemovePartition,
  type ManifestState,
} from "./manifest_state.ts";
import { placeReplicas } from "./placement.ts";
import { cancelJob, type RebalanceJob, recordOutcome, startJob } from "./rebalance_state.ts";

/** A registered broker. */
export interface BrokerRecord {
  nodeId: number;
  host: string;
  port: number;
  rack: string | null;
  endpoints: Record<string, BrokerEndpoint>;
  /** The index of its latest registration; heartbeats and ISR changes must quote it. */
  epoch: number;
  /** Fenced brokers lead nothing and are left out of new ISRs and placements. */
  fenced: boolean;
  /** Holds a decommission slot: no new replicas are placed on it. */
  decommissioning: boolean;
  /** Drained: it holds nothing and gets no replicas until the decommission is cancelled. */
  decommissioned?: boolean;
}

/** One partition's replicated state. */
export interface PartitionRecord {
  partition: number;
  /** The leader's node id, or -1 when the partition is offline. */
  leader: number;
  /** Bumped on every leadership change. */
  leaderEpoch: number;
  /** Bumped on every change at all; ISR updates compare-and-set on it. */
  partitionEpoch: number;
  replicas: number[];
  isr: number[];
  /** The replica set a reassignment in progress moves to (replicas holds old and new). */
  targetReplicas?: number[];
}

/** One topic's replicated state. */
export interface TopicRecord {
  name: string;
  topicId: string;
  config: TopicConfig;
  partitions: PartitionRecord[];
}

/** A deployed WebAssembly ETL module (its latest version). */
export interface WasmModuleRecord {
  name: string;
  /** 1 on the first deploy, then one more on each deploy of the same name. */
  version: number;
  sha256: string;
  sizeBytes: number;
  /** The `.wasm`, base64. */
  bytesBase64: string;
}

/** A module as brokers learn it from the metadata: the bytes are fetched by sha256. */
export type WasmModuleSummary = Omit<WasmModuleRecord, "bytesBase64">;

/** The summaries of `modules`, which brokers receive instead of the bytes. */
export function wasmModuleSummaries(
  modules: Readonly<Record<string, WasmModuleRecord>>,
): WasmModuleSummary[] {
  return Object.values(modules).map(({ bytesBase64: _b, ...summary }) => summary);
}

/** The bytes of the module with `sha256` among `modules`, or a NOT_FOUND error. */
export function wasmModuleBytes(
  modules: readonly WasmModuleRecord[],
  sha256: string,
): Uint8Array {
  const m = modules.find((x) => x.sha256 === sha256);
  if (m === undefined) {
    throw new MetadataError("NOT_FOUND", `Cannot find a module with sha256 ${sha256}`);
  }
  return Uint8Array.from(atob(m.bytesBase64), (c) => c.charCodeAt(0));
}

/** The whole replicated state, exactly as snapshots hold it. */
export interface MetadataStateData {
  v: 1;
  clusterId: string;
  /** In node id order. */
  brokers: BrokerRecord[];
  topics: Record<string, TopicRecord>;
  /** The next unallocated producer id, as a decimal string (a 64-bit value). */
  nextProducerId: string;
  manifest: ManifestState;
  decommissioning: number[];
  /** Where the next partition's first replica goes in the round-robin. */
  placementCursor: number;
  /**
   * Outcomes of the latest keyed requests, oldest first, so a client retrying a write whose
   * first attempt did land gets that outcome instead of applying it twice.
   */
  requests: { key: string; result: ApplyResult }[];
  /** WebAssembly ETL modules by name. */
  wasmModules: Record<string, WasmModuleRecord>;
  /** The current (or latest finished) rebalance job. */
  rebalance: RebalanceJob | null;
  /** SCRAM users by name (salts and keys only, never a password). */
  users: ScramUsers;
  /** ACL bindings, in the order they were created. */
  acls: AclBinding[];
}

/** The outcome of one command, identical on every controller. */
export type ApplyResult = { ok: true; value: unknown } | { ok: false; error: WireError };

/** What one applied command changed, as brokers receive it. */
export interface MetadataDelta {
  index: number;
  /** Set when a snapshot replaced the whole state: listeners must reload everything. */
  reset?: true;
  clusterId?: string;
  /** The whole broker list, present when any broker changed. */
  brokers?: BrokerRecord[];
  /** Changed topics; null means deleted. */
  topics: Record<string, TopicRecord | null>;
  /** Every WebAssembly module, present when any changed. */
  wasmModules?: WasmModuleSummary[];
  manifest?: {
    partitions: Record<string, PartitionTierState | null>;
    objectsAdded: ManifestObject[];
    objectsRemoved: string[];
  };
  /** Every user and every ACL, present when either changed (brokers authorize from them). */
  security?: { users: ScramUsers; acls: AclBinding[] };
}

/** Most users the state holds. */
export const SCRAM_USERS_MAX = 10_000;
/** Most ACL bindings the state holds. */
export const ACLS_MAX = 10_000;

/** Longest WebAssembly module name. */
export const WASM_MODULE_NAME_CHARS_MAX = 128;

/** Throws unless `name` is 1 to 128 characters of `[a-zA-Z0-9._-]`, like a topic name. */
export function validateWasmModuleName(name: string): void {
  if (
    name.length === 0 || name.length > WASM_MODULE_NAME_CHARS_MAX ||
    !/^[a-zA-Z0-9._-]+$/.test(name)
  ) {
    throw new MetadataError(
      "INVALID_REQUEST",
      `Cannot use module name '${name}' as it must be 1 to ${WASM_MODULE_NAME_CHARS_MAX} ASCII letters, digits, '.', '_' or '-'`,
    );
  }
}

/** Options of {@linkcode MetadataStateMachine}. */
export interface MetadataStateMachineOptions {
  /** Brokers that may be decommissioning at once. @default 1 */
  decommissionSlotsMax?: number;
  /** Producer ids one command may reserve. @default 1000000 */
  producerIdBlockMax?: number;
  /** Keyed request outcomes remembered for retries. @default 1024 */
  requestKeysMax?: number;
}

interface _Change {
  brokers: boolean;
  security: boolean;
  wasmModules: boolean;
  clusterId: boolean;
  topics: Set<string>;
  manifest: ManifestChange;
}

function _newChange(): _Change {
  return {
    brokers: false,
    security: false,
    wasmModules: false,
    clusterId: false,
    topics: new Set(),
    manifest: { partitions: new Set(), objectsAdded: [], objectsRemoved: [] },
  };
}

/** An empty state. */
export function emptyMetadataState(): MetadataStateData {
  return {
    v: 1,
    clusterId: "",
    brokers: [],
    topics: {},
    nextProducerId: "0",
    manifest: emptyManifest(),
    decommissioning: [],
    placementCursor: 0,
    requests: [],
    wasmModules: {},
    rebalance: null,
    users: {},
    acls: [],
  };
}

/**
 * The metadata state machine.
 *
 * @example
 * ```ts
 * import { MetadataStateMachine } from "./state_machine.ts";
 * import assert from "node:assert/strict";
 * const sm = new MetadataStateMachine();
 * sm.apply(1, { v: 1, op: "register_broker", nodeId: 1, host: "h", port: 9092, rack: null, endpoints: {} });
 * const r = sm.apply(2, {
 *   v: 1, op: "create_topic", name: "t", partitions: 2, replicationFactor: 1, configs: {}, topicId: "id",
 * });
 * assert.equal(r.result.ok, true);
 * assert.equal(sm.topic("t")?.partitions[1]?.leader, 1);
 * ```
 */
export class MetadataStateMachine {
  #state: MetadataStateData = emptyMetadataState();
  #applied = 0;
  #change: _Change = _newChange();
  readonly #manifestIndex = new ManifestIndex();
  readonly #slotsMax: number;
  readonly #producerIdBlockMax: number;
  readonly #requestKeysMax: number;

  constructor(options: MetadataStateMachineOptions = {}) {
    this.#slotsMax = options.decommissionSlotsMax ?? 1;
    this.#producerIdBlockMax = options.producerIdBlockMax ?? 1_000_000;
    this.#requestKeysMax = options.requestKeysMax ?? 1024;
    if (!Number.isInteger(this.#slotsMax) || this.#slotsMax < 1) {
      throw new RangeError(
        `Cannot create the state machine as decommissionSlotsMax must be >= 1: current value is ${this.#slotsMax}`,
      );
    }
  }

  /** The index of the last applied entry. */
  get applied(): number {
    return this.#applied;
  }

  /** The cluster id, or "" before the first leader set it. */
  get clusterId(): string {
    return this.#state.clusterId;
  }

  /** The raw state. Callers must not modify it. */
  get state(): Readonly<MetadataStateData> {
    return this.#state;
  }

  /** The manifest, indexed for range lookups. */
  get manifest(): ManifestIndex {
    return this.#manifestIndex;
  }

  brokers(): readonly BrokerRecord[] {
    return this.#state.brokers;
  }

  broker(nodeId: number): BrokerRecord | undefined {
    return this.#state.brokers.find((b) => b.nodeId === nodeId);
  }

  topics(): readonly TopicRecord[] {
    return Object.values(this.#state.topics);
  }

  /** Deployed WebAssembly ETL modules, by name. */
  wasmModules(): readonly WasmModuleRecord[] {
    return Object.values(this.#state.wasmModules).sort((a, b) => a.name < b.name ? -1 : 1);
  }

  /** One deployed WebAssembly ETL module. */
  wasmModule(name: string): WasmModuleRecord | undefined {
    return Object.hasOwn(this.#state.wasmModules, name) ? this.#state.wasmModules[name] : undefined;
  }

  topic(name: string): TopicRecord | undefined {
    return Object.hasOwn(this.#state.topics, name) ? this.#state.topics[name] : undefined;
  }

  /** Marks an entry that carries no command (a leader's empty entry) as applied. */
  markApplied(index: number): void {
    this.#applied = Math.max(this.#applied, index);
  }

  /**
   * Applies one command at log `index`. Refusals are results, not exceptions: every controller
   * reaches the same one. Returns the result and what changed (null when nothing did).
   * With a `requestKey` seen before, the command is not applied again: the first outcome is
   * returned.
   */
  apply(
    index: number,
    cmd: MetadataCommand,
    requestKey?: string,
  ): { result: ApplyResult; delta: MetadataDelta | null } {
    this.#applied = Math.max(this.#applied, index);
    this.#change = _newChange();
    if (requestKey !== undefined) {
      const seen = this.#state.requests.find((r) => r.key === requestKey);
      if (seen !== undefined) return { result: seen.result, delta: null };
    }
    let result: ApplyResult;
    try {
      result = { ok: true, value: this.#dispatch(index, cmd) };
    } catch (err) {
      if (!(err instanceof MetadataError) && !(err instanceof InvalidTopicError)) throw err;
      // Every operation validates before it changes anything, so a refusal leaves no trace.
      this.#change = _newChange();
      result = { ok: false, error: toWireError(err) };
    }
    if (requestKey !== undefined) {
      const requests = this.#state.requests;
      requests.push({ key: requestKey, result });
      if (requests.length > this.#requestKeysMax) {
        requests.splice(0, requests.length - this.#requestKeysMax);
      }
    }
    const delta = this.#takeDelta(index);
    if (delta?.manifest !== undefined) this.#manifestIndex.applyDelta(delta.manifest);
    return { result, delta };
  }

  /** The whole state as text, for a Raft snapshot. */
  snapshot(): string {
    return JSON.stringify(this.#state);
  }

  /** Replaces the state with a snapshot taken at `index`. */
  restore(index: number, data: string): void {
    const parsed = data === "" ? emptyMetadataState() : JSON.parse(data) as MetadataStateData;
    if (parsed.v !== 1) {
      throw new RangeError(`Cannot restore metadata snapshot version ${parsed.v}`);
    }
    // Snapshots from before a field existed restore it empty.
    this.#state = {
      ...parsed,
      // Topic configs from before a key existed read as its default.
      topics: Object.fromEntries(
        Object.entries(parsed.topics).map(([n, t]) => [n, {
          ...t,
          config: { ...TOPIC_CONFIG_DEFAULTS, ...t.config },
        }]),
      ),
      requests: parsed.requests ?? [],
      wasmModules: parsed.wasmModules ?? {},
      rebalance: parsed.rebalance ?? null,
      users: parsed.users ?? {},
      acls: parsed.acls ?? [],
    };
    this.#applied = index;
    this.#manifestIndex.reset(parsed.manifest);
  }

  // ---------------------------------------------------------------- dispatch

  #dispatch(index: number, cmd: MetadataCommand): unknown {
    if ((cmd as { v: unknown }).v !== 1) {
      throw new MetadataError("INVALID_REQUEST", `Cannot apply command version ${cmd.v}`);
    }
    const m = this.#change.manifest;
    switch (cmd.op) {
      case "init_cluster":
        if (this.#state.clusterId === "") {
          this.#state.clusterId = cmd.clusterId;
          this.#change.clusterId = true;
        }
        return { clusterId: this.#state.clusterId };
      case "register_broker":
        return this.#registerBroker(index, cmd);
      case "fence_broker":
        return this.#fenceBroker(cmd);
      case "unfence_broker":
        return this.#unfenceBroker(cmd.nodeId, cmd.brokerEpoch);
      case "create_topic":
        return this.#createTopic(cmd);
      case "delete_topic":
        return this.#deleteTopic(cmd.name);
      case "create_partitions":
        return this.#createPartitions(cmd.name, cmd.totalCount);
      case "alter_topic_config":
        return this.#alterConfig(cmd.name, cmd.configs);
      case "alter_isr":
        return this.#alterIsr(cmd);
      case "allocate_producer_ids":
        return this.#allocateProducerIds(cmd.count);
      case "commit_upload":
        manifestCommitUpload(this.#state.manifest, cmd.object, m);
        return {};
      case "commit_compaction":
        manifestCommitCompaction(this.#state.manifest, cmd.added, cmd.removed, m);
        return {};
      case "advance_log_start":
        return { dropped: manifestAdvanceLogStart(this.#state.manifest, cmd.key, cmd.offset, m) };
      case "remove_partition":
        return { dropped: manifestRemovePartition(this.#state.manifest, cmd.key, m) };
      case "decommission_start":
        return this.#decommissionStart(cmd.nodeId);
      case "decommission_end":
        return this.#decommissionEnd(cmd.nodeId);
      case "decommission_complete":
        return this.#decommissionComplete(cmd.nodeId);
      case "controlled_shutdown":
        return this.#controlledShutdown(cmd.nodeId, cmd.brokerEpoch);
      case "rebalance_start":
        this.#state.rebalance = startJob(this.#state.rebalance, {
          id: cmd.id,
          strategy: cmd.strategy,
          topics: cmd.topics ?? null,
          maxConcurrentMoves: cmd.maxConcurrentMoves,
          startIndex: index,
          moves: cmd.moves,
        });
        return this.#state.rebalance;
      case "rebalance_progress":
        this.#state.rebalance = recordOutcome(this.#state.rebalance, cmd);
        return this.#state.rebalance;
      case "rebalance_cancel":
        this.#state.rebalance = cancelJob(this.#state.rebalance);
        return this.#state.rebalance;
      case "elect_preferred_leaders":
        return this.#electPreferredLeaders(cmd.topic);
      case "reassign_partition":
        return this.#reassign(cmd.topic, cmd.partition, cmd.replicas);
      case "import_local":
        return this.#importLocal(index, cmd);
      case "deploy_wasm_module":
        return this.#deployWasmModule(cmd);
      case "delete_wasm_module":
        return this.#deleteWasmModule(cmd.name);
      case "upsert_scram_credential":
        return this.#upsertCredential(cmd);
      case "delete_scram_credentials":
        return this.#deleteCredentials(cmd);
      case "create_acls":
        return this.#createAcls(cmd);
      case "delete_acls":
        return this.#deleteAcls(cmd);
      default:
        throw new MetadataError(
          "INVALID_REQUEST",
          `Cannot apply command '${(cmd as { op: unknown }).op}' as it is unknown`,
        );
    }
  }

  #takeDelta(index: number): MetadataDelta | null {
    const c = this.#change;
    const m = c.manifest;
    const manifestChanged = m.partitions.size > 0 || m.objectsAdded.length > 0 ||
      m.objectsRemoved.length > 0;
    if (
      !c.brokers && !c.clusterId && c.topics.size === 0 && !manifestChanged && !c.wasmModules &&
      !c.security
    ) return null;
    const delta: MetadataDelta = { index, topics: {} };
    if (c.security) delta.security = { users: this.#state.users, acls: this.#state.acls };
    if (c.wasmModules) delta.wasmModules = wasmModuleSummaries(this.#state.wasmModules);
    if (c.clusterId) delta.clusterId = this.#state.clusterId;
    // Records are replaced, never changed in place, so the delta may share them.
    if (c.brokers) delta.brokers = this.#state.brokers;
    for (const name of c.topics) delta.topics[name] = this.topic(name) ?? null;
    if (manifestChanged) {
      const partitions: Record<string, PartitionTierState | null> = {};
      for (const key of m.partitions) {
        partitions[key] = this.#state.manifest.partitions[key] ?? null;
      }
      delta.manifest = {
        partitions,
        objectsAdded: m.objectsAdded,
        objectsRemoved: m.objectsRemoved,
      };
    }
    return delta;
  }

  // ---------------------------------------------------------------- users and ACLs

  /** SCRAM users by name. Callers must not modify them. */
  users(): Readonly<ScramUsers> {
    return this.#state.users;
  }

  /** ACL bindings. Callers must not modify them. */
  acls(): readonly AclBinding[] {
    return this.#state.acls;
  }

  // The user map and the ACL list are replaced, never changed in place, so a delta or image
  // handed out earlier keeps showing the state it was taken at.
  #upsertCredential(cmd: UpsertScramCredentialCommand): unknown {
    const problem = userNameProblem(cmd.user) ?? _mechanismProblem(cmd.mechanism) ??
      storedCredentialProblem(cmd.credential);
    if (problem !== null) {
      throw new MetadataError("INVALID_REQUEST", `Cannot set the credential: ${problem}`);
    }
    const users = this.#state.users;
    if (!Object.hasOwn(users, cmd.user) && Object.keys(users).length >= SCRAM_USERS_MAX) {
      throw new MetadataError(
        "INVALID_REQUEST",
        `Cannot add user '${cmd.user}' as ${SCRAM_USERS_MAX} users exist`,
      );
    }
    const { salt, iterations, storedKey, serverKey } = cmd.credential;
    const creds = { ...(Object.hasOwn(users, cmd.user) ? users[cmd.user] : {}) };
    creds[cmd.mechanism] = { salt, iterations, storedKey, serverKey };
    this.#state.users = { ...users, [cmd.user]: creds };
    this.#change.security = true;
    return { user: cmd.user, mechanism: cmd.mechanism, iterations };
  }

  #deleteCredentials(cmd: DeleteScramCredentialsCommand): unknown {
    if (cmd.mechanism !== null) {
      const problem = _mechanismProblem(cmd.mechanism);
      if (problem !== null) throw new MetadataError("INVALID_REQUEST", problem);
    }
    const users = this.#state.users;
    const creds = Object.hasOwn(users, cmd.user) ? users[cmd.user]! : undefined;
    const removed = creds === undefined
      ? []
      : (Object.keys(creds) as ScramMechanismName[]).filter((m) =>
        cmd.mechanism === null || m === cmd.mechanism
      );
    if (removed.length === 0) {
      const what = cmd.mechanism === null ? "credentials" : `${cmd.mechanism} credential`;
      throw new MetadataError("NOT_FOUND", `User '${cmd.user}' has no ${what}`);
    }
    const left = { ...creds };
    for (const m of removed) delete left[m];
    const { [cmd.user]: _old, ...rest } = users;
    this.#state.users = Object.keys(left).length === 0 ? rest : { ...rest, [cmd.user]: left };
    this.#change.security = true;
    return { user: cmd.user, removed };
  }

  #createAcls(cmd: CreateAclsCommand): unknown {
    for (const b of cmd.acls) {
      const problem = aclBindingProblem(b);
      if (problem !== null) {
        throw new MetadataError("INVALID_REQUEST", `Cannot create the ACL: ${problem}`);
      }
    }
    const added: AclBinding[] = [];
    for (const b of cmd.acls) {
      const { resourceType, resourceName, patternType, principal, host, operation, permission } = b;
      const acl = {
        resourceType,
        resourceName,
        patternType,
        principal,
        host,
        operation,
        permission,
      };
      if (![...this.#state.acls, ...added].some((a) => sameAcl(a, acl))) added.push(acl);
    }
    if (this.#state.acls.length + added.length > ACLS_MAX) {
      throw new MetadataError("INVALID_REQUEST", `Cannot hold more than ${ACLS_MAX} ACLs`);
    }
    if (added.length > 0) {
      this.#state.acls = [...this.#state.acls, ...added];
      this.#change.security = true;
    }
    return { created: added.length };
  }

  #deleteAcls(cmd: DeleteAclsCommand): unknown {
    for (const f of cmd.filters) {
      const problem = aclFilterProblem(f);
      if (problem !== null) {
        throw new MetadataError("INVALID_REQUEST", `Invalid filter: ${problem}`);
      }
    }
    const removed = cmd.filters.map((f) => this.#state.acls.filter((a) => aclMatches(a, f)));
    const left = this.#state.acls.filter((a) => !cmd.filters.some((f) => aclMatches(a, f)));
    if (left.length !== this.#state.acls.length) {
      this.#state.acls = left;
      this.#change.security = true;
    }
    return { removed };
  }

  // ---------------------------------------------------------------- wasm modules

  #deployWasmModule(cmd: DeployWasmModuleCommand): WasmModuleRecord {
    validateWasmModuleName(cmd.name);
    if (!/^[0-9a-f]{64}$/.test(cmd.sha256) || !Number.isSafeInteger(cmd.sizeBytes)) {
      throw new MetadataError(
        "INVALID_REQUEST",
        "Cannot deploy a module without its sha256 and size",
      );
    }
    const old = this.wasmModule(cmd.name);
    const record: WasmModuleRecord = {
      name: cmd.name,
      version: (old?.version ?? 0) + 1,
      sha256: cmd.sha256,
      sizeBytes: cmd.sizeBytes,
      bytesBase64: cmd.bytesBase64,
    };
    this.#state.wasmModules = { ...this.#state.wasmModules, [cmd.name]: record };
    this.#change.wasmModules = true;
    return record;
  }

  #deleteWasmModule(name: string): unknown {
    const old = this.wasmModule(name);
    if (old === undefined) {
      throw new MetadataError("NOT_FOUND", `Cannot delete module '${name}' as it does not exist`);
    }
    const users = this.topics().filter((t) => etlChainOf(t.config).includes(name));
    if (users.length > 0) {
      throw new MetadataError(
        "MODULE_IN_USE",
        `Cannot delete module '${name}' as topics use it: ${users.map((t) => t.name).join(", ")}`,
      );
    }
    const { [name]: _removed, ...rest } = this.#state.wasmModules;
    this.#state.wasmModules = rest;
    this.#change.wasmModules = true;
    return { deleted: name, version: old.version };
  }

  // ---------------------------------------------------------------- brokers

  #registerBroker(index: number, cmd: RegisterBrokerCommand): unknown {
    _checkNodeId(cmd.nodeId);
    const old = this.broker(cmd.nodeId);
    const record: BrokerRecord = {
      nodeId: cmd.nodeId,
      host: cmd.host,
      port: cmd.port,
      rack: cmd.rack === "" ? null : cmd.rack,
      endpoints: cmd.endpoints ?? {},
      epoch: index,
      fenced: false,
      decommissioning: old?.decommissioning ?? false,
    };
    // A drained broker that comes back stays out of placement until its decommission is cancelled.
    if (old?.decommissioned === true) record.decommissioned = true;
    this.#state.brokers = [...this.#state.brokers.filter((b) => b.nodeId !== cmd.nodeId), record]
      .sort((a, b) => a.nodeId - b.nodeId);
    this.#change.brokers = true;
    // A broker that was fenced may now lead the partitions that went offline without it.
    if (old?.fenced) this.#electOffline();
    return { brokerEpoch: index };
  }

  #fenceBroker(cmd: FenceBrokerCommand): unknown {
    const b = this.broker(cmd.nodeId);
    // A fence decided against an older registration must not hit the newer one.
    if (b === undefined || b.epoch !== cmd.brokerEpoch || b.fenced) return { fenced: false };
    this.#replaceBroker({ ...b, fenced: true });
    this.#mapPartitions((p) => this.#removeFromPartition(p, cmd.nodeId, cmd.unclean));
    return { fenced: true };
  }

  /** Takes a fenced broker out of one partition's leadership and ISR; null when unchanged. */
  #removeFromPartition(
    p: PartitionRecord,
    nodeId: number,
    unclean: boolean,
  ): PartitionRecord | null {
    const wasLeader = p.leader === nodeId;
    const inIsr = p.isr.includes(nodeId);
    if (!wasLeader && !(inIsr && p.isr.length > 1)) return null;
    const next = { ...p, partitionEpoch: p.partitionEpoch + 1 };
    // The last ISR member stays listed even when fenced: it alone holds every acknowledged
    // record, so it must be the one to lead again when it returns.
    if (inIsr && p.isr.length > 1) next.isr = p.isr.filter((id) => id !== nodeId);
    if (wasLeader) {
      next.leader = this.#electLeader(next, unclean);
      next.leaderEpoch = p.leaderEpoch + 1;
      if (next.leader !== -1 && !next.isr.includes(next.leader)) next.isr = [next.leader];
    }
    return next;
  }

  /**
   * Replaces each partition `fn` changes, and its topic. Records are never changed in place,
   * so a reader holding an older one keeps a consistent picture.
   */
  #mapPartitions(fn: (p: PartitionRecord) => PartitionRecord | null): void {
    for (const t of this.topics()) {
      let changed = false;
      const partitions = t.partitions.map((p) => {
        const next = fn(p);
        if (next === null) return p;
        changed = true;
        return next;
      });
      if (!changed) continue;
      this.#state.topics[t.name] = { ...t, partitions };
      this.#change.topics.add(t.name);
    }
  }

  #replaceBroker(b: BrokerRecord): void {
    this.#state.brokers = this.#state.brokers.map((x) => x.nodeId === b.nodeId ? b : x);
    this.#change.brokers = true;
  }

  /** The first live ISR member in replica order; with `unclean`, any live replica; else -1. */
  #electLeader(p: PartitionRecord, unclean: boolean): number {
    const live = (id: number) => this.broker(id)?.fenced === false;
    const clean = p.replicas.find((id) => p.isr.includes(id) && live(id));
    if (clean !== undefined) return clean;
    if (unclean) return p.replicas.find(live) ?? -1;
    return -1;
  }

  #unfenceBroker(nodeId: number, epoch: number): unknown {
    const b = this.broker(nodeId);
    if (b === undefined || b.epoch !== epoch || !b.fenced) return { unfenced: false };
    this.#replaceBroker({ ...b, fenced: false });
    this.#electOffline();
    return { unfenced: true };
  }

  /** Gives offline partitions a leader when a live ISR member exists now. */
  #electOffline(): void {
    this.#mapPartitions((p) => {
      if (p.leader !== -1) return null;
      const leader = this.#electLeader(p, false);
      if (leader === -1) return null;
      return {
        ...p,
        leader,
        leaderEpoch: p.leaderEpoch + 1,
        partitionEpoch: p.partitionEpoch + 1,
      };
    });
  }

  // ---------------------------------------------------------------- topics

  #createTopic(cmd: CreateTopicCommand): unknown {
    validateTopicName(cmd.name);
    _checkPartitionCount(cmd.partitions);
    const config = parseTopicConfig(cmd.configs ?? {}, TOPIC_CONFIG_DEFAULTS);
    this.#checkEtlConfig(cmd.name, config);
    if (this.topic(cmd.name) !== undefined) {
      throw new MetadataError("TOPIC_ALREADY_EXISTS", `Topic '${cmd.name}' already exists`);
    }
    const topic: TopicRecord = {
      name: cmd.name,
      topicId: cmd.topicId,
      config,
      partitions: this.#placePartitions(cmd.name, 0, cmd.partitions, cmd.replicationFactor),
    };
    this.#state.topics[cmd.name] = topic;
    this.#change.topics.add(cmd.name);
    return topic;
  }

  #placePartitions(
    name: string,
    from: number,
    count: number,
    replicationFactor: number,
  ): PartitionRecord[] {
    const candidates = this.#state.brokers.filter((b) => placeable(b));
    if (!Number.isInteger(replicationFactor) || replicationFactor < 1) {
      throw new InvalidTopicError(
        "INVALID_REPLICATION_FACTOR",
        `Replication factor must be at least 1: current value is ${replicationFactor}`,
      );
    }
    if (replicationFactor > candidates.length) {
      throw new InvalidTopicError(
        "INVALID_REPLICATION_FACTOR",
        `Cannot place topic '${name}' with replication factor ${replicationFactor} as ${candidates.length} brokers are available`,
      );
    }
    const placed = placeReplicas(candidates, {
      count,
      replicationFactor,
      cursor: this.#state.placementCursor,
    });
    this.#state.placementCursor = (this.#state.placementCursor + count) % 1_000_000_007;
    return placed.map((replicas, i) => ({
      partition: from + i,
      leader: replicas[0]!,
      leaderEpoch: 0,
      partitionEpoch: 0,
      replicas,
      isr: [...replicas],
    }));
  }

  #deleteTopic(name: string): unknown {
    if (this.topic(name) === undefined) {
      throw new MetadataError("UNKNOWN_TOPIC_OR_PARTITION", `Topic '${name}' does not exist`);
    }
    delete this.#state.topics[name];
    this.#change.topics.add(name);
    return {};
  }

  #createPartitions(name: string, totalCount: number): unknown {
    const t = this.#mustTopic(name);
    _checkPartitionCount(totalCount);
    if (totalCount <= t.partitions.length) {
      throw new InvalidTopicError(
        "INVALID_PARTITIONS",
        `Cannot change topic '${name}' to ${totalCount} partitions as it has ${t.partitions.length}: partitions can only be added`,
      );
    }
    const rf = t.partitions[0]?.replicas.length ?? 1;
    const extra = this.#placePartitions(
      name,
      t.partitions.length,
      totalCount - t.partitions.length,
      rf,
    );
    const next = { ...t, partitions: [...t.partitions, ...extra] };
    this.#state.topics[name] = next;
    this.#change.topics.add(name);
    return next;
  }

  #alterConfig(name: string, configs: Readonly<Record<string, string | null>>): unknown {
    const t = this.#mustTopic(name);
    const next = parseTopicConfig(configs, t.config);
    for (const [key, value] of Object.entries(configs)) {
      if (value === null && Object.hasOwn(TOPIC_CONFIG_DEFAULTS, key)) {
        (next as unknown as Record<string, unknown>)[key] =
          TOPIC_CONFIG_DEFAULTS[key as keyof TopicConfig];
      }
    }
    this.#checkEtlConfig(name, next);
    const topic = { ...t, config: next };
    this.#state.topics[name] = topic;
    this.#change.topics.add(name);
    return topic;
  }

  /** A chain may name only deployed modules, and dead-letter needs its topic. */
  #checkEtlConfig(name: string, config: TopicConfig): void {
    const problem = etlTopicConfigProblem(name, config);
    if (problem !== null) throw new MetadataError("INVALID_CONFIG", problem);
    for (const m of etlChainOf(config)) {
      if (this.wasmModule(m) === undefined) {
        throw new MetadataError(
          "INVALID_CONFIG",
          `Cannot set ${ETL_MODULES_KEY} of topic '${name}' as module '${m}' is not deployed`,
        );
      }
    }
  }

  #mustTopic(name: string): TopicRecord {
    const t = this.topic(name);
    if (t === undefined) {
      throw new MetadataError("UNKNOWN_TOPIC_OR_PARTITION", `Topic '${name}' does not exist`);
    }
    return t;
  }

  // ---------------------------------------------------------------- partitions

  #alterIsr(cmd: AlterIsrCommand): unknown {
    const b = this.broker(cmd.nodeId);
    if (b === undefined) {
      throw new MetadataError("BROKER_NOT_REGISTERED", `Broker ${cmd.nodeId} is not registered`);
    }
    if (b.epoch !== cmd.brokerEpoch || b.fenced) {
      throw new MetadataError(
        "STALE_BROKER_EPOCH",
        `Cannot change the ISR as broker ${cmd.nodeId} epoch ${cmd.brokerEpoch} is stale or fenced: current epoch is ${b.epoch}`,
      );
    }
    const t = this.#mustTopic(cmd.topic);
    const p = t.partitions[cmd.partition];
    if (p === undefined) {
      throw new MetadataError(
        "UNKNOWN_TOPIC_OR_PARTITION",
        `Partition ${cmd.topic}-${cmd.partition} does not exist`,
      );
    }
    this.#checkIsrUpdate(p, cmd);
    const next: PartitionRecord = this.#completeReassignment({
      ...p,
      isr: p.replicas.filter((id) => cmd.isr.includes(id)),
      partitionEpoch: p.partitionEpoch + 1,
    });
    this.#state.topics[t.name] = {
      ...t,
      partitions: t.partitions.map((x) => x.partition === cmd.partition ? next : x),
    };
    this.#change.topics.add(t.name);
    return next;
  }

  #checkIsrUpdate(p: PartitionRecord, cmd: AlterIsrCommand): void {
    if (p.leader !== cmd.nodeId) {
      throw new MetadataError(
        "NOT_PARTITION_LEADER",
        `Cannot change the ISR of ${cmd.topic}-${cmd.partition} as broker ${cmd.nodeId} does not lead it: current leader is ${p.leader}`,
      );
    }
    if (p.leaderEpoch !== cmd.leaderEpoch) {
      throw new MetadataError(
        "FENCED_LEADER_EPOCH",
        `Cannot change the ISR as leader epoch ${cmd.leaderEpoch} is stale: current value is ${p.leaderEpoch}`,
      );
    }
    if (p.partitionEpoch !== cmd.partitionEpoch) {
      throw new MetadataError(
        "INVALID_UPDATE_VERSION",
        `Cannot change the ISR as partition epoch ${cmd.partitionEpoch} is stale: current value is ${p.partitionEpoch}`,
      );
    }
    if (!Array.isArray(cmd.isr) || !cmd.isr.includes(cmd.nodeId)) {
      throw new MetadataError(
        "INVALID_REQUEST",
        "Cannot change the ISR as it must hold the leader",
      );
    }
    for (const id of cmd.isr) {
      if (!p.replicas.includes(id)) {
        throw new MetadataError(
          "INVALID_REQUEST",
          `Cannot change the ISR as broker ${id} is not a replica of ${cmd.topic}-${cmd.partition}`,
        );
      }
      // A fenced broker cannot be caught up, so admitting it would weaken acks=all.
      if (this.broker(id)?.fenced !== false && !p.isr.includes(id)) {
        throw new MetadataError(
          "INVALID_REQUEST",
          `Cannot add broker ${id} to the ISR as it is fenced`,
        );
      }
    }
  }

  // ---------------------------------------------------------------- producer ids, slots

  #allocateProducerIds(count: number): unknown {
    if (!Number.isInteger(count) || count < 1 || count > this.#producerIdBlockMax) {
      throw new MetadataError(
        "INVALID_REQUEST",
        `Cannot allocate producer ids as count must be within 1..${this.#producerIdBlockMax}: current value is ${count}`,
      );
    }
    const first = BigInt(this.#state.nextProducerId);
    this.#state.nextProducerId = (first + BigInt(count)).toString();
    return { firstId: first.toString(), count };
  }

  #importLocal(index: number, cmd: ImportLocalCommand): unknown {
    const s = this.#state;
    if (Object.keys(s.topics).length > 0 || s.manifest.objects.length > 0) {
      throw new MetadataError(
        "INVALID_REQUEST",
        "Cannot import local metadata as the controller already holds topics or objects",
      );
    }
    if (!/^\d+$/.test(cmd.nextProducerId)) {
      throw new MetadataError("INVALID_REQUEST", "Cannot import: nextProducerId is not a number");
    }
    const live = s.brokers.filter((b) => placeable(b));
    if (cmd.topics.length > 0 && live.length === 0) {
      throw new MetadataError("INVALID_REQUEST", "Cannot import topics as no broker is registered");
    }
    // Validate every topic before changing anything, so a bad file changes nothing.
    const placed = cmd.topics.map((t) => {
      validateTopicName(t.name);
      _checkPartitionCount(t.partitions);
      return { t, config: parseTopicConfig(t.configs, TOPIC_CONFIG_DEFAULTS) };
    });
    for (const { t, config } of placed) {
      s.topics[t.name] = {
        name: t.name,
        topicId: t.topicId,
        config,
        partitions: this.#placePartitions(t.name, 0, t.partitions, 1),
      };
      this.#change.topics.add(t.name);
    }
    if (cmd.clusterId !== "") {
      s.clusterId = cmd.clusterId;
      this.#change.clusterId = true;
    }
    if (BigInt(cmd.nextProducerId) > BigInt(s.nextProducerId)) {
      s.nextProducerId = cmd.nextProducerId;
    }
    s.manifest = structuredClone(cmd.manifest);
    const m = this.#change.manifest;
    for (const key of Object.keys(s.manifest.partitions)) m.partitions.add(key);
    m.objectsAdded.push(...s.manifest.objects);
    return { topics: placed.length, objects: s.manifest.objects.length, index };
  }

  #decommissionStart(nodeId: number): unknown {
    const b = this.broker(nodeId);
    if (b === undefined) {
      throw new MetadataError("BROKER_NOT_REGISTERED", `Broker ${nodeId} is not registered`);
    }
    if (b.decommissioning) return { slot: this.#state.decommissioning.indexOf(nodeId) };
    if (this.#state.decommissioning.length >= this.#slotsMax) {
      throw new MetadataError(
        "DECOMMISSION_IN_PROGRESS",
        `Cannot decommission broker ${nodeId} as at most ${this.#slotsMax} may be decommissioning: current value is ${this.#state.decommissioning.length}`,
      );
    }
    this.#replaceBroker({ ...b, decommissioning: true });
    this.#state.decommissioning = [...this.#state.decommissioning, nodeId];
    return { slot: this.#state.decommissioning.length - 1 };
  }

  #electPreferredLeaders(topic: string | undefined): unknown {
    const live = (id: number) => this.broker(id)?.fenced === false;
    let moved = 0;
    for (const t of this.topics()) {
      if (topic !== undefined && t.name !== topic) continue;
      const partitions = t.partitions.map((p) => {
        const preferred = p.replicas[0];
        if (preferred === undefined || p.leader === preferred) return p;
        if (!p.isr.includes(preferred) || !live(preferred)) return p;
        moved++;
        return {
          ...p,
          leader: preferred,
          leaderEpoch: p.leaderEpoch + 1,
          partitionEpoch: p.partitionEpoch + 1,
        };
      });
      if (partitions.every((p, i) => p === t.partitions[i])) continue;
      this.#state.topics[t.name] = { ...t, partitions };
      this.#change.topics.add(t.name);
    }
    return { moved };
  }

  #reassign(topic: string, partition: number, target: number[]): unknown {
    const t = this.#mustTopic(topic);
    const p = t.partitions[partition];
    if (p === undefined) {
      throw new MetadataError(
        "UNKNOWN_TOPIC_OR_PARTITION",
        `Partition ${topic}-${partition} does not exist`,
      );
    }
    const ids = target.map(Number);
    if (
      ids.length === 0 || new Set(ids).size !== ids.length ||
      ids.some((id) => this.broker(id) === undefined)
    ) {
      throw new MetadataError(
        "INVALID_REPLICA_ASSIGNMENT",
        `Cannot reassign ${topic}-${partition} to [${target}]: replicas must be distinct registered brokers`,
      );
    }
    // New replicas join first and follow; the old ones leave once the new ones are in sync.
    const replicas = [...p.replicas, ...ids.filter((id) => !p.replicas.includes(id))];
    const next = this.#completeReassignment({
      ...p,
      replicas,
      targetReplicas: ids,
      partitionEpoch: p.partitionEpoch + 1,
    });
    this.#state.topics[t.name] = {
      ...t,
      partitions: t.partitions.map((x) => x.partition === partition ? next : x),
    };
    this.#change.topics.add(t.name);
    return next;
  }

  /** Finishes a reassignment once every target replica is in the ISR. */
  #completeReassignment(p: PartitionRecord): PartitionRecord {
    const target = p.targetReplicas;
    if (target === undefined || !target.every((id) => p.isr.includes(id))) return p;
    const { targetReplicas: _done, ...rest } = p;
    const next: PartitionRecord = {
      ...rest,
      replicas: [...target],
      isr: p.isr.filter((id) => target.includes(id)),
    };
    if (!target.includes(p.leader)) {
      next.leader = this.#electLeader(next, false);
      next.leaderEpoch = p.leaderEpoch + 1;
    }
    return next;
  }

  /** Cancels a drain (moves under way finish), or returns a decommissioned broker to service. */
  #decommissionEnd(nodeId: number): unknown {
    const b = this.broker(nodeId);
    if (b === undefined || (!b.decommissioning && b.decommissioned !== true)) return {};
    const { decommissioned: _gone, ...rest } = b;
    this.#replaceBroker({ ...rest, decommissioning: false });
    this.#state.decommissioning = this.#state.decommissioning.filter((id) => id !== nodeId);
    return { cancelled: true };
  }

  #decommissionComplete(nodeId: number): unknown {
    const b = this.broker(nodeId);
    if (b === undefined || !b.decommissioning) {
      throw new MetadataError(
        "INVALID_REQUEST",
        `Cannot complete the decommission of broker ${nodeId} as it is not draining`,
      );
    }
    const hosted = hostedBy(this.topics(), nodeId);
    if (hosted.replicas > 0 || hosted.leaders > 0) {
      throw new MetadataError(
        "DECOMMISSION_IN_PROGRESS",
        `Cannot complete the decommission of broker ${nodeId} as it still holds ${hosted.replicas} replica(s)`,
      );
    }
    this.#replaceBroker({ ...b, decommissioning: false, decommissioned: true });
    this.#state.decommissioning = this.#state.decommissioning.filter((id) => id !== nodeId);
    return { decommissioned: true };
  }

  #controlledShutdown(nodeId: number, epoch: number): unknown {
    const b = this.broker(nodeId);
    if (b === undefined) {
      throw new MetadataError("BROKER_NOT_REGISTERED", `Broker ${nodeId} is not registered`);
    }
    if (b.epoch !== epoch) {
      throw new MetadataError(
        "STALE_BROKER_EPOCH",
        `Cannot shut broker ${nodeId} down as epoch ${epoch} is stale: current epoch is ${b.epoch}`,
      );
    }
    // Never unclean: a partition whose only in-sync replica stops goes offline rather than lose data.
    this.#fenceBroker({ v: 1, op: "fence_broker", nodeId, brokerEpoch: epoch, unclean: false });
    return { leaders: hostedBy(this.topics(), nodeId).leaders };
  }
}

function _checkNodeId(nodeId: number): void {
  if (!Number.isInteger(nodeId) || nodeId < 0 || nodeId > 2147483647) {
    throw new MetadataError(
      "INVALID_REQUEST",
      `Broker node id must be an integer within 0..2147483647: current value is ${nodeId}`,
    );
  }
}

function _checkPartitionCount(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > TOPIC_PARTITIONS_MAX) {
    throw new InvalidTopicError(
      "INVALID_PARTITIONS",
      `Partition count must be between 1 and ${TOPIC_PARTITIONS_MAX}: current value is ${n}`,
    );
  }
}

/** Whether new replicas may be placed on a broker: live, not draining, not decommissioned. */
export function placeable(b: BrokerRecord): boolean {
  return !b.fenced && !b.decommissioning && b.decommissioned !== true;
}

/** The replicas (including reassignment targets) and leaderships a broker holds. */
export function hostedBy(
  topics: readonly TopicRecord[],
  nodeId: number,
): { replicas: number; leaders: number } {
  let replicas = 0, leaders = 0;
  for (const t of topics) {
    for (const p of t.partitions) {
      if (p.replicas.includes(nodeId) || p.targetReplicas?.includes(nodeId)) replicas++;
      if (p.leader === nodeId) leaders++;
    }
  }
  return { replicas, leaders };
}

/** Under-replicated and offline partition counts, for health reports. */
export function partitionHealth(topics: readonly TopicRecord[]): {
  total: number;
  offline: number;
  underReplicated: number;
} {
  let total = 0, offline = 0, underReplicated = 0;
  for (const t of topics) {
    for (const p of t.partitions) {
      total++;
      if (p.leader === -1) offline++;
      if (p.isr.length < p.replicas.length) underReplicated++;
    }
  }
  return { total, offline, underReplicated };
}

function _mechanismProblem(m: unknown): string | null {
  return SCRAM_MECHANISM_NAMES.includes(m as ScramMechanismName)
    ? null
    : `mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512: current value is ${String(m)}`;
}
