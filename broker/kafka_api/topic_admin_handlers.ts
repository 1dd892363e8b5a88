/**
 * Topic administration over the Kafka protocol: CreateTopics (19), DeleteTopics (20),
 * CreatePartitions (37), DescribeConfigs (32), AlterConfigs (33) and IncrementalAlterConfigs
 * (44). Each topic in a request succeeds or fails on its own, with the error code and message
 * Kafka would give.
 *
 * Topic configs are altered through the controller like every metadata change. Broker
 * resources are this broker's layered configuration (broker_config_handlers.ts).
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  type AlterConfigsRequest,
  type AlterConfigsResponse,
  createAlterConfigsResponse,
  createCreatePartitionsResponse,
  createCreateTopicsResponse,
  createDeleteTopicsResponse,
  createDescribeConfigsResponse,
  createIncrementalAlterConfigsResponse,
  type CreatePartitionsRequest,
  type CreatePartitionsResponse,
  type CreateTopicsRequest,
  type CreateTopicsResponse,
  decodeAlterConfigsRequest,
  decodeCreatePartitionsRequest,
  decodeCreateTopicsRequest,
  decodeDeleteTopicsRequest,
  decodeDescribeConfigsRequest,
  decodeIncrementalAlterConfigsRequest,
  type DeleteTopicsRequest,
  type DeleteTopicsResponse,
  type DescribeConfigsRequest,
  type DescribeConfigsResponse,
  type DescribeConfigsResponseResourceResult,
  encodeAlterConfigsResponse,
  encodeCreatePartitionsResponse,
  encodeCreateTopicsResponse,
  encodeDeleteTopicsResponse,
  encodeDescribeConfigsResponse,
  encodeIncrementalAlterConfigsResponse,
  type IncrementalAlterConfigsRequest,
  type IncrementalAlterConfigsResponse,
} from "../../protocol/kafka/messages/mod.ts";
import { ZERO_UUID } from "../../protocol/kafka/wire.ts";
import {
  parseTopicConfig,
  TOPIC_CONFIG_DEFAULTS,
  type TopicConfig,
  topicConfigEntries,
  topicConfigKey,
} from "../../model/topic_config.ts";
import { kafkaErrorCode, KafkaProtocolError } from "../broker_errors.ts";
import type { ApiRoute } from "./request_router.ts";
import { alterBrokerResource, describeBrokerResource } from "./broker_config_handlers.ts";
import { brokerTopicDefaults, type RequestContext } from "./broker_context.ts";

async function _createTopics(
  req: CreateTopicsRequest,
  ctx: RequestContext,
): Promise<CreateTopicsResponse> {
  const { metadata, partitions } = ctx.broker;
  const res = createCreateTopicsResponse();
  for (const t of req.topics) {
    const configs: Record<string, string | null> = {
      ...brokerTopicDefaults(ctx.broker),
      ...Object.fromEntries(t.configs.map((c) => [c.name, c.value])),
    };
    // -1 asks for the broker's defaults (KIP-464).
    const count = t.numPartitions === -1 ? ctx.broker.defaultPartitions : t.numPartitions;
    const rf = t.replicationFactor === -1
      ? ctx.broker.defaultReplicationFactor
      : t.replicationFactor;
    const result = {
      name: t.name,
      topicId: ZERO_UUID,
      errorCode: ErrorCode.NONE as number,
      errorMessage: null as string | null,
      topicConfigErrorCode: ErrorCode.NONE,
      numPartitions: count,
      replicationFactor: rf,
      configs: null,
    };
    try {
      if (t.assignments.length > 0) {
        throw new KafkaProtocolError(
          "INVALID_REQUEST",
          "Manual replica assignment is not supported",
        );
      }
      if (req.validateOnly) {
        parseTopicConfig(configs);
        if (metadata.topic(t.name)) {
          throw new KafkaProtocolError("TOPIC_ALREADY_EXISTS", `Topic '${t.name}' already exists`);
        }
      } else {
        result.topicId = (await metadata.createTopic(t.name, count, rf, configs)).topicId;
      }
    } catch (err) {
      result.errorCode = kafkaErrorCode(err);
      result.errorMessage = (err as Error).message;
    }
    res.topics.push(result);
  }
  await partitions.syncWithMetadata();
  return res;
}

async function _deleteTopics(
  req: DeleteTopicsRequest,
  ctx: RequestContext,
): Promise<DeleteTopicsResponse> {
  const { metadata, partitions } = ctx.broker;
  const res = createDeleteTopicsResponse();
  // v0-5 name topics in topicNames; v6 uses topics with a name or an id.
  const wanted = ctx.header.apiVersion >= 6
    ? req.topics.map((t) =>
      t.name ?? metadata.topics().find((x) => x.topicId === t.topicId)?.name ?? null
    )
    : req.topicNames;
  for (const [i, name] of wanted.entries()) {
    const result = {
      name,
      topicId: req.topics[i]?.topicId ?? ZERO_UUID,
      errorCode: ErrorCode.NONE as number,
      errorMessage: null as string | null,
    };
    try {
      if (name === null) {
        result.errorCode = ErrorCode.UNKNOWN_TOPIC_ID;
      } else {
        result.topicId = metadata.topic(name)?.topicId ?? result.topicId;
        await metadata.deleteTopic(name);
      }
    } catch (err) {
      result.errorCode = kafkaErrorCode(err);
      result.errorMessage = (err as Error).message;
    }
    res.responses.push(result);
  }
  await partitions.syncWithMetadata();
  return res;
}

async function _createPartitions(
  req: CreatePartitionsRequest,
  ctx: RequestContext,
): Promise<CreatePartitionsResponse> {
  const { metadata, partitions } = ctx.broker;
  const res = createCreatePartitionsResponse();
  for (const t of req.topics) {
    const result = {
      name: t.name,
      errorCode: ErrorCode.NONE as number,
      errorMessage: null as string | null,
    };
    try {
      if (req.validateOnly) {
        const cur = metadata.topic(t.name);
        if (!cur) {
          throw new KafkaProtocolError(
            "UNKNOWN_TOPIC_OR_PARTITION",
            `Topic '${t.name}' does not exist`,
          );
        }
        if (t.count <= cur.partitions.length) {
          throw new KafkaProtocolError(
            "INVALID_PARTITIONS",
            `Topic '${t.name}' already has ${cur.partitions.length} partitions`,
          );
        }
      } else {
        await metadata.createPartitions(t.name, t.count);
      }
    } catch (err) {
      result.errorCode = kafkaErrorCode(err);
      result.errorMessage = (err as Error).message;
    }
    res.results.push(result);
  }
  await partitions.syncWithMetadata();
  return res;
}

const RESOURCE_TOPIC = 2;
const RESOURCE_BROKER = 4;
const SOURCE_TOPIC = 1;
const SOURCE_DEFAULT = 5;

// Kafka's ConfigEntry.ConfigType numbers, by how topic_config.ts checks a key.
const _CONFIG_TYPES: Readonly<Record<string, number>> = {
  boolean: 1,
  enum: 2,
  version: 2,
  int: 3,
  long: 5,
  double: 6,
  policy: 7,
  replicas: 7,
};

/**
 * Every config of one topic. A key with no effect here (see TOPIC_CONFIG_KEYS) says why in its
 * documentation (v3+), whether or not documentation was asked for, so `kafka-configs
 * --describe` shows it; other keys carry documentation only when asked.
 */
function _describeTopic(
  config: Readonly<TopicConfig>,
  r: DescribeConfigsRequest["resources"][number],
  v: number,
): DescribeConfigsResponseResourceResult[] {
  const defaults = new Map(topicConfigEntries(TOPIC_CONFIG_DEFAULTS));
  const out: DescribeConfigsResponseResourceResult[] = [];
  for (const [name, value] of topicConfigEntries(config)) {
    if (r.configurationKeys !== null && !r.configurationKeys.includes(name)) continue;
    const isDefault = defaults.get(name) === value;
    // Kafka's keys have a spec; RustMQ's own (rustmq.etl.*) are strings with no inert reason.
    const spec = topicConfigKey(name);
    // Each field exists only in some versions: isDefault in v0, configSource from v1,
    // configType and documentation from v3. The others must stay at their defaults.
    out.push({
      name,
      value,
      readOnly: false,
      isDefault: v === 0 ? isDefault : false,
      configSource: v >= 1 ? (isDefault ? SOURCE_DEFAULT : SOURCE_TOPIC) : -1,
      isSensitive: false,
      synonyms: [],
      configType: v >= 3 ? (spec ? _CONFIG_TYPES[spec.type.kind] ?? 2 : 2) : 0,
      documentation: v >= 3 ? spec?.inert ?? null : null,
    });
  }
  return out;
}

function _describeConfigs(
  req: DescribeConfigsRequest,
  ctx: RequestContext,
): Promise<DescribeConfigsResponse> {
  const { metadata } = ctx.broker;
  const res = createDescribeConfigsResponse();
  for (const r of req.resources) {
    const result = {
      errorCode: ErrorCode.NONE as number,
      errorMessage: null as string | null,
      resourceType: r.resourceType,
      resourceName: r.resourceName,
      configs: [] as DescribeConfigsResponseResourceResult[],
    };
    if (r.resourceType === RESOURCE_TOPIC) {
      const t = metadata.topic(r.resourceName);
      if (!t) {
        result.errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        result.errorMessage = `Topic '${r.resourceName}' does not exist`;
      } else {
        result.configs = _describeTopic(t.config, r, ctx.header.apiVersion);
      }
    } else if (r.resourceType === RESOURCE_BROKER) {
      Object.assign(
        result,
        describeBrokerResource(
          ctx,
          r.resourceName,
          r.configurationKeys,
          req.includeSynonyms,
          req.includeDocumentation,
        ),
      );
    } else {
      result.errorCode = ErrorCode.INVALID_REQUEST;
      result.errorMessage = `Resource type ${r.resourceType} is not supported`;
    }
    res.results.push(result);
  }
  return Promise.resolve(res);
}

/** One resource's config change, as both alter APIs carry it. */
interface _ConfigChange {
  readonly name: string;
  /** 0 SET, 1 DELETE (back to the default), 2 APPEND, 3 SUBTRACT. AlterConfigs sets. */
  readonly op: number;
  readonly value: string | null;
}

/**
 * Applies one resource's changes; returns its error code and message. `replace` (AlterConfigs)
 * resets every key not named to its default, as Kafka's non-incremental API does.
 */
async function _alterResource(
  ctx: RequestContext,
  resourceType: number,
  resourceName: string,
  changes: readonly _ConfigChange[],
  replace: boolean,
  validateOnly: boolean,
): Promise<{ errorCode: number; errorMessage: string | null }> {
  try {
    if (resourceType === RESOURCE_BROKER) {
      return alterBrokerResource(ctx, resourceName, changes, replace, validateOnly);
    }
    if (resourceType !== RESOURCE_TOPIC) {
      throw new KafkaProtocolError(
        "INVALID_REQUEST",
        `Resource type ${resourceType} is not supported`,
      );
    }
    const { metadata } = ctx.broker;
    const topic = metadata.topic(resourceName);
    if (!topic) {
      throw new KafkaProtocolError(
        "UNKNOWN_TOPIC_OR_PARTITION",
        `Topic '${resourceName}' does not exist`,
      );
    }
    const defaults: Record<string, string> = Object.fromEntries(
      topicConfigEntries(TOPIC_CONFIG_DEFAULTS),
    );
    const current: Record<string, string> = Object.fromEntries(topicConfigEntries(topic.config));
    const entries: Record<string, string | null> = replace ? { ...defaults } : {};
    for (const c of changes) {
      if (c.op === 1) {
        // An unknown key keeps an empty value, which the validation below names.
        entries[c.name] = defaults[c.name] ?? "";
      } else if (c.value === null) {
        throw new KafkaProtocolError("INVALID_CONFIG", `Config '${c.name}' needs a value`);
      } else if (c.op === 0) {
        entries[c.name] = c.value;
      } else if (c.op === 2 || c.op === 3) {
        entries[c.name] = _alterList(c, entries[c.name] ?? current[c.name]);
      } else {
        throw new KafkaProtocolError(
          "INVALID_CONFIG",
          `Cannot apply operation ${c.op} to '${c.name}': 0-3 are defined`,
        );
      }
    }
    parseTopicConfig(entries, topic.config); // validates every key and value first
    if (!validateOnly) await metadata.alterTopicConfig(resourceName, entries);
    return { errorCode: ErrorCode.NONE, errorMessage: null };
  } catch (err) {
    return { errorCode: kafkaErrorCode(err), errorMessage: (err as Error).message };
  }
}

/** APPEND (2) or SUBTRACT (3) on a list config, as IncrementalAlterConfigs defines them. */
function _alterList(change: _ConfigChange, now: string | null | undefined): string {
  const kind = topicConfigKey(change.name)?.type.kind;
  if (kind !== "policy" && kind !== "replicas") {
    throw new KafkaProtocolError(
      "INVALID_CONFIG",
      `Cannot ${
        change.op === 2 ? "APPEND to" : "SUBTRACT from"
      } '${change.name}': it is not a list`,
    );
  }
  const split = (s: string | null | undefined) =>
    (s ?? "").split(",").map((x) => x.trim()).filter((x) => x !== "");
  const have = split(now);
  const given = split(change.value);
  const next = change.op === 2
    ? [...have, ...given.filter((x) => !have.includes(x))]
    : have.filter((x) => !given.includes(x));
  return next.join(",");
}

async function _alterConfigs(
  req: AlterConfigsRequest,
  ctx: RequestContext,
): Promise<AlterConfigsResponse> {
  const res = createAlterConfigsResponse();
  for (const r of req.resources) {
    const changes = r.configs.map((c) => ({ name: c.name, op: 0, value: c.value }));
    const outcome = await _alterResource(
      ctx,
      r.resourceType,
      r.resourceName,
      changes,
      true,
      req.validateOnly,
    );
    res.responses.push({ ...outcome, resourceType: r.resourceType, resourceName: r.resourceName });
  }
  return res;
}

async function _incrementalAlterConfigs(
  req: IncrementalAlterConfigsRequest,
  ctx: RequestContext,
): Promise<IncrementalAlterConfigsResponse> {
  const res = createIncrementalAlterConfigsResponse();
  for (const r of req.resources) {
    const changes = r.configs.map((c) => ({
      name: c.name,
      op: c.configOperation,
      value: c.value,
    }));
    const outcome = await _alterResource(
      ctx,
      r.resourceType,
      r.resourceName,
      changes,
      false,
      req.validateOnly,
    );
    res.responses.push({ ...outcome, resourceType: r.resourceType, resourceName: r.resourceName });
  }
  return res;
}

/** The CreateTopics route. */
export const createTopicsRoute: ApiRoute<CreateTopicsRequest, CreateTopicsResponse> = {
  apiKey: ApiKey.CreateTopics,
  name: "CreateTopics",
  minVersion: 0,
  maxVersion: 7,
  advertised: true,
  decode: decodeCreateTopicsRequest,
  encode: encodeCreateTopicsResponse,
  handle: _createTopics,
};

/** The DeleteTopics route. */
export const deleteTopicsRoute: ApiRoute<DeleteTopicsRequest, DeleteTopicsResponse> = {
  apiKey: ApiKey.DeleteTopics,
  name: "DeleteTopics",
  minVersion: 0,
  maxVersion: 6,
  advertised: true,
  decode: decodeDeleteTopicsRequest,
  encode: encodeDeleteTopicsResponse,
  handle: _deleteTopics,
};

/** The CreatePartitions route. */
export const createPartitionsRoute: ApiRoute<CreatePartitionsRequest, CreatePartitionsResponse> = {
  apiKey: ApiKey.CreatePartitions,
  name: "CreatePartitions",
  minVersion: 0,
  maxVersion: 3,
  advertised: true,
  decode: decodeCreatePartitionsRequest,
  encode: encodeCreatePartitionsResponse,
  handle: _createPartitions,
};

/** The DescribeConfigs route. */
export const describeConfigsRoute: ApiRoute<DescribeConfigsRequest, DescribeConfigsResponse> = {
  apiKey: ApiKey.DescribeConfigs,
  name: "DescribeConfigs",
  minVersion: 0,
  maxVersion: 4,
  advertised: true,
  decode: decodeDescribeConfigsRequest,
  encode: encodeDescribeConfigsResponse,
  handle: _describeConfigs,
};

/** The AlterConfigs route: the named configs replace the topic's whole set. */
export const alterConfigsRoute: ApiRoute<AlterConfigsRequest, AlterConfigsResponse> = {
  apiKey: ApiKey.AlterConfigs,
  name: "AlterConfigs",
  minVersion: 0,
  maxVersion: 2,
  advertised: true,
  decode: decodeAlterConfigsRequest,
  encode: encodeAlterConfigsResponse,
  handle: _alterConfigs,
};

/** The IncrementalAlterConfigs route: SET and DELETE per key. */
export const incrementalAlterConfigsRoute: ApiRoute<
  IncrementalAlterConfigsRequest,
  IncrementalAlterConfigsResponse
> = {
  apiKey: ApiKey.IncrementalAlterConfigs,
  name: "IncrementalAlterConfigs",
  minVersion: 0,
  maxVersion: 1,
  advertised: true,
  decode: decodeIncrementalAlterConfigsRequest,
  encode: encodeIncrementalAlterConfigsResponse,
  handle: _incrementalAlterConfigs,
};
