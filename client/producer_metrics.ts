/**
 * Counters a producer keeps: messages and batches sent and failed, retries, bytes.
 *
 * @module
 */

/** A snapshot of a producer's counters. */
export interface ProducerMetrics {
  /** Records the broker acknowledged (or that were sent with `ackLevel: "None"`). */
  sentMessages: number;
  /** Records that failed for good. */
  failedMessages: number;
  /** Batches acknowledged. */
  sentBatches: number;
  /** Batches that failed for good. */
  failedBatches: number;
  /** Produce requests sent again after a retriable error. */
  retries: number;
  /** Encoded batch bytes acknowledged. */
  sentBytes: number;
  /** Records per acknowledged batch, on average (0 before the first batch). */
  averageBatchSize: number;
  /** Records waiting in the buffer or in flight. */
  bufferedMessages: number;
}

/** Mutable counters behind {@linkcode ProducerMetrics}. */
export class _ProducerCounters {
  sentMessages = 0;
  failedMessages = 0;
  sentBatches = 0;
  failedBatches = 0;
  retries = 0;
  sentBytes = 0;

  snapshot(bufferedMessages: number): ProducerMetrics {
    return {
      sentMessages: this.sentMessages,
      failedMessages: this.failedMessages,
      sentBatches: this.sentBatches,
      failedBatches: this.failedBatches,
      retries: this.retries,
      sentBytes: this.sentBytes,
      averageBatchSize: this.sentBatches === 0 ? 0 : this.sentMessages / this.sentBatches,
      bufferedMessages,
    };
  }
}
