/**
 * InitProducerId (API key 22) for idempotent producers: a new producer id with epoch 0, or, when
 * a producer asks to bump the epoch of its id after an error (KIP-360, v3+), the same id with
 * the next epoch. With a transactional id, the transaction coordinator answers: the id's
 * producer id with a bumped epoch, which fences older instances (see `broker/txn/`).
 *
 * @module
 */

import { ApiKey } from "../../protocol/kafka/api_keys.ts";
import { ErrorCode } from "../../protocol/kafka/errors.ts";
import {
  createInitProducerIdResponse,
  decodeInitProducerIdRequest,
  encodeInitProducerIdResponse,
  type InitProducerIdRequest,
  type InitProducerIdResponse,
} from "../../protocol/kafka/messages/mod.ts";
import { kafkaErrorCode } from "../broker_errors.ts";
import type { ApiRoute } from "./request_router.ts";
import type { RequestContext } from "./broker_context.ts";
import { txnServiceFor } from "./txn_handlers.ts";

const EPOCH_MAX = 32767;

async function _handle(
  req: InitProducerIdRequest,
  ctx: RequestContext,
): Promise<InitProducerIdResponse> {
  const res = createInitProducerIdResponse();
  if (req.transactionalId !== null) {
    // Transactions off: non-retriable, so the client fails at once rather than spinning
    // (FindCoordinator carries the reason as its message).
    if (ctx.broker.txns === undefined) {
      res.errorCode = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
      return res;
    }
    const svc = txnServiceFor(ctx, req.transactionalId);
    if (typeof svc === "number") {
      res.errorCode = svc;
      return res;
    }
    const out = await svc.initProducerId(req.transactionalId, req.transactionTimeoutMs);
    res.errorCode = out.errorCode;
    if ("producerId" in out) {
      res.producerId = BigInt(out.producerId);
      res.producerEpoch = out.producerEpoch;
    }
    return res;
  }
  if (req.producerId >= 0n && req.producerEpoch >= 0 && req.producerEpoch < EPOCH_MAX) {
    res.producerId = req.producerId;
    res.producerEpoch = req.producerEpoch + 1;
    return res;
  }
  try {
    res.producerId = BigInt(await ctx.broker.metadata.allocateProducerId());
    res.producerEpoch = 0;
  } catch (err) {
    res.errorCode = kafkaErrorCode(err);
  }
  return res;
}

/** The InitProducerId route. */
export const initProducerIdRoute: ApiRoute<InitProducerIdRequest, InitProducerIdResponse> = {
  apiKey: ApiKey.InitProducerId,
  name: "InitProducerId",
  minVersion: 0,
  maxVersion: 4,
  advertised: true,
  decode: decodeInitProducerIdRequest,
  encode: encodeInitProducerIdResponse,
  handle: _handle,
};
