/**
 * The broker's transaction coordinator (Kafka's KIP-98 transactions).
 *
 * - {@linkcode TxnCoordinator}: the sans-IO state machine per transactional id (states, epoch
 *   bumps and fencing, partitions and offsets in the transaction, timeouts).
 * - {@linkcode TxnIndex}: each partition's last stable offset and aborted-transaction ranges.
 * - `txn_record.ts`: the key/value layout of `__transaction_state`.
 * - {@linkcode TxnService}: the driver one broker owns (durable transitions, markers, offsets on
 *   commit, timeout aborts, start-up rebuild); handlers reach it as `ctx.broker.txns`.
 * - Its six Kafka APIs are served by `broker/kafka_api/txn_handlers.ts`.
 *
 * @module
 */

export {
  PRODUCER_EPOCH_MAX,
  TxnCoordinator,
  type TxnCoordinatorOptions,
  type TxnDecision,
  type TxnMetadata,
  type TxnOffset,
  type TxnPartition,
  type TxnProducer,
  type TxnState,
} from "./txn_coordinator.ts";
export { ABORTED_PER_PARTITION_MAX, type AbortedTxn, TxnIndex } from "./txn_index.ts";
export {
  decodeAbortedValue,
  decodeTxnKey,
  decodeTxnValue,
  encodeAbortedKey,
  encodeAbortedValue,
  encodeTxnKey,
  encodeTxnValue,
  type TxnKey,
  TxnRecordError,
} from "./txn_record.ts";
export {
  type InitResult,
  type TopicPartition,
  TXN_STATE_TOPIC,
  TxnService,
  type TxnServiceDeps,
  type TxnServiceOptions,
} from "./txn_service.ts";
