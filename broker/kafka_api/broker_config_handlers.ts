/**
 * DescribeConfigs and the two alter APIs on BROKER resources (resource type 4): the broker's
 * layered configuration (config/dynamic_config.ts) over the Kafka protocol, so kafkajs
 * `describeConfigs`/`alterConfigs` and `kcat` see and change dynamic broker configs. The
 * resource name is the broker's node id; an empty name means "this broker", as Kafka's does
 * for describes.
 *
 * @module
 */

import { ErrorCode } from "../../protocol/kafka/errors.ts";
import type { DescribeConfigsResponseResourceResult } from "../../protocol/kafka/messages/mod.ts";
import {
  CONFIG_SOURCE_ID,
  type ConfigChange,
  type DescribedConfig,
} from "../../config/dynamic_config.ts";
import { kafkaErrorCode, KafkaProtocolError } from "../broker_errors.ts";
import type { RequestContext } from "./broker_context.ts";

/** Kafka's ConfigType ids (DescribeConfigs v3+). */
const _CONFIG_TYPE = { bool: 1, string: 2, int: 5, float: 6, "string[]": 7, table: 2 } as const;

/** The outcome of one resource. */
export interface ResourceOutcome {
  errorCode: number;
  errorMessage: string | null;
}

/** Describes this broker's configs for one DescribeConfigs resource. */
export function describeBrokerResource(
  ctx: RequestContext,
  resourceName: string,
  keys: readonly string[] | null,
  includeSynonyms: boolean,
  includeDocumentation: boolean,
): ResourceOutcome & { configs: DescribeConfigsResponseResourceResult[] } {
  try {
    const dynamic = _dynamic(ctx, resourceName, true);
    const v = ctx.header.apiVersion;
    const configs = dynamic.describe(keys).map((c) =>
      _wire(c, v, includeSynonyms, includeDocumentation)
    );
    return { errorCode: ErrorCode.NONE, errorMessage: null, configs };
  } catch (err) {
    return { errorCode: kafkaErrorCode(err), errorMessage: (err as Error).message, configs: [] };
  }
}

/**
 * Applies one resource's changes. `op` is IncrementalAlterConfigs' (0 SET, 1 DELETE, 2 APPEND,
 * 3 SUBTRACT); `replace` (AlterConfigs) removes every dynamic override not named, as Kafka's
 * non-incremental API does.
 */
export function alterBrokerResource(
  ctx: RequestContext,
  resourceName: string,
  changes: readonly { name: string; op: number; value: string | null }[],
  replace: boolean,
  validateOnly: boolean,
): ResourceOutcome {
  try {
    const dynamic = _dynamic(ctx, resourceName, false);
    const out = new Map<string, ConfigChange>();
    if (replace) {
      for (const k of Object.keys(dynamic.overrides)) out.set(k, { name: k, value: null });
    }
    for (const c of changes) {
      if (c.op !== 0 && c.op !== 1) {
        throw new KafkaProtocolError(
          "INVALID_CONFIG",
          `Cannot ${c.op === 2 ? "APPEND to" : "SUBTRACT from"} broker config '${c.name}': ` +
            "no dynamic broker config is a list",
        );
      }
      if (c.op === 0 && c.value === null) {
        throw new KafkaProtocolError("INVALID_CONFIG", `Config '${c.name}' needs a value`);
      }
      out.set(c.name, { name: c.name, value: c.op === 1 ? null : c.value });
    }
    dynamic.alter([...out.values()], { validateOnly });
    return { errorCode: ErrorCode.NONE, errorMessage: null };
  } catch (err) {
    return { errorCode: kafkaErrorCode(err), errorMessage: (err as Error).message };
  }
}

function _dynamic(ctx: RequestContext, resourceName: string, describe: boolean) {
  const dynamic = ctx.broker.dynamicConfig;
  if (dynamic === undefined) {
    throw new KafkaProtocolError("INVALID_REQUEST", "This broker has no broker configs to show");
  }
  const self = String(ctx.broker.nodeId);
  if (resourceName !== self && !(describe && resourceName === "")) {
    throw new KafkaProtocolError(
      "INVALID_REQUEST",
      resourceName === ""
        ? "Cannot alter cluster-wide default broker configs: alter each broker by its id"
        : `Broker '${resourceName}' is not this broker (${self}): send the request to that broker`,
    );
  }
  return dynamic;
}

function _wire(
  c: DescribedConfig,
  v: number,
  includeSynonyms: boolean,
  includeDocumentation: boolean,
): DescribeConfigsResponseResourceResult {
  // Each field exists only in some versions: isDefault in v0, configSource and synonyms from
  // v1, configType and documentation from v3. The others must stay at their defaults.
  return {
    name: c.name,
    value: c.value,
    readOnly: c.readOnly,
    isDefault: v === 0 ? c.source === "DEFAULT_CONFIG" : false,
    configSource: v >= 1 ? CONFIG_SOURCE_ID[c.source] : -1,
    isSensitive: c.sensitive,
    synonyms: v >= 1 && includeSynonyms
      ? c.synonyms.map((s) => ({
        name: s.name,
        value: s.value,
        source: CONFIG_SOURCE_ID[s.source],
      }))
      : [],
    configType: v >= 3 ? _CONFIG_TYPE[c.type] : 0,
    documentation: v >= 3 && includeDocumentation ? c.doc : null,
  };
}
