/*
 * Ingest load generator on librdkafka, for bench/ingest.sh.
 *
 * Produces records of a fixed size to a topic for a fixed duration (or count), at acks 0, 1 or
 * all, to its partitions in turn (in runs, see produce()); then consumes everything back from
 * the start and checks that every acknowledged record arrived. Prints one JSON object on stdout.
 *
 * Written in C so the client is never the bottleneck: librdkafka batches and compresses on its
 * own threads, which is what Kafka's own perf tools and most production producers do.
 *
 * Build: gcc -O2 -o ingest bench/ingest.c -lrdkafka
 * Usage: ingest BROKERS TOPIC PARTITIONS RECORD_BYTES ACKS SECONDS [MAX_RECORDS]
 */
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile long long acked = 0, failed = 0;
static char last_error[512] = "";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  if (m->err) {
    failed++;
    snprintf(last_error, sizeof last_error, "%s", rd_kafka_err2str(m->err));
  } else {
    acked++;
  }
}

static void set(rd_kafka_conf_t *conf, const char *key, const char *value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "ingest: cannot set %s=%s: %s\n", key, value, err);
    exit(2);
  }
}

/* Creates the topic with `partitions` partitions; an existing topic is fine. */
static void create_topic(rd_kafka_t *rk, const char *topic, int partitions) {
  char err[512];
  rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
  if (ev != NULL) {
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **r = rd_kafka_CreateTopics_result_topics(res, &n);
    if (n == 1 && rd_kafka_topic_result_error(r[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_topic_result_error(r[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      fprintf(stderr, "ingest: cannot create topic %s: %s\n", topic,
              rd_kafka_topic_result_error_string(r[0]));
      exit(1);
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
}

static rd_kafka_t *producer(const char *brokers, const char *acks) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", brokers);
  set(conf, "acks", acks);
  set(conf, "linger.ms", "5");
  set(conf, "batch.size", "1000000");
  set(conf, "queue.buffering.max.kbytes", "1048576");
  set(conf, "queue.buffering.max.messages", "2000000");
  set(conf, "enable.idempotence", "false");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == NULL) {
    fprintf(stderr, "ingest: %s\n", err);
    exit(1);
  }
  return rk;
}

/*
 * Produces until `seconds` pass or `max_records` are queued; returns records queued.
 *
 * Records go to the partitions in turn, RUN records at a time, each run enqueued with one
 * rd_kafka_produce_batch() call. Switching partition on every record (and one
 * rd_kafka_produce() per record) cost this process 1.3-1.8 of the machine's 2 cores at 100 B
 * and 6 partitions, which made the client the limit at half the 1-partition rate. Runs are what
 * librdkafka's own sticky partitioner (KIP-480) sends for keyless records. Every record points
 * at the one payload (no RD_KAFKA_MSG_F_COPY): copying 1 KiB per record cost the client CPU
 * the broker needed on this 2-core machine.
 */
#define RUN 1000
static long long produce(rd_kafka_t *rk, const char *topic, int partitions, int size,
                         double seconds, long long max_records, double *elapsed) {
  char *payload = malloc((size_t)size);
  memset(payload, 'x', (size_t)size);
  rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
  static rd_kafka_message_t run[RUN];
  long long sent = 0, runs = 0;
  double start = now_s();
  while ((max_records <= 0 || sent < max_records) && now_s() - start < seconds) {
    int32_t part = (int32_t)(runs++ % partitions);
    int queued = 0;
    while (queued < RUN) {
      int n = RUN - queued;
      memset(run, 0, sizeof(rd_kafka_message_t) * (size_t)n);
      for (int i = 0; i < n; i++) {
        run[i].payload = payload;
        run[i].len = (size_t)size;
      }
      int ok = rd_kafka_produce_batch(t, part, 0, run, n);
      for (int i = 0; i < n; i++) {
        if (run[i].err != RD_KAFKA_RESP_ERR_NO_ERROR &&
            run[i].err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          fprintf(stderr, "ingest: produce failed: %s\n", rd_kafka_err2str(run[i].err));
          exit(1);
        }
      }
      /* A full queue rejects some of the run: wait for deliveries, then enqueue as many again. */
      queued += ok;
      if (ok < n) rd_kafka_poll(rk, 1);
    }
    sent += RUN;
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, 120000);
  *elapsed = now_s() - start;
  rd_kafka_topic_destroy(t);
  /* Records still queued after a timed-out flush point into the payload: keep it then. */
  if (rd_kafka_outq_len(rk) == 0) free(payload);
  return sent;
}

/* Reads every partition from the start until `expected` records arrived or 60 s of silence. */
static long long consume(const char *brokers, const char *topic, int partitions, long long expected,
                         double *elapsed) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", brokers);
  set(conf, "group.id", "ingest-bench-check");
  set(conf, "enable.auto.commit", "false");
  set(conf, "fetch.max.bytes", "52428800");
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == NULL) {
    fprintf(stderr, "ingest: %s\n", err);
    exit(1);
  }
  rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; p++) {
    rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  long long got = 0;
  double start = now_s(), last = start;
  while (got < expected && now_s() - last < 60) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
    if (m == NULL) continue;
    if (!m->err) {
      got++;
      last = now_s();
    }
    rd_kafka_message_destroy(m);
  }
  *elapsed = now_s() - start;
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return got;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: ingest BROKERS TOPIC PARTITIONS RECORD_BYTES ACKS SECONDS [MAX_RECORDS]\n");
    return 2;
  }
  const char *brokers = argv[1], *topic = argv[2], *acks = argv[5];
  int partitions = atoi(argv[3]), size = atoi(argv[4]);
  double seconds = atof(argv[6]);
  long long max_records = argc > 7 ? atoll(argv[7]) : 0;
  if (partitions < 1 || size < 1 || seconds <= 0) {
    fprintf(stderr, "ingest: PARTITIONS, RECORD_BYTES and SECONDS must be positive\n");
    return 2;
  }
  rd_kafka_t *rk = producer(brokers, acks);
  create_topic(rk, topic, partitions);
  double produce_s = 0, consume_s = 0;
  long long sent = produce(rk, topic, partitions, size, seconds, max_records, &produce_s);
  rd_kafka_destroy(rk);
  long long got = consume(brokers, topic, partitions, acked, &consume_s);
  double mib = (double)acked * size / (1024.0 * 1024.0);
  printf("{\"record_bytes\":%d,\"partitions\":%d,\"acks\":\"%s\",\"sent\":%lld,\"acked\":%lld,"
         "\"failed\":%lld,\"produce_seconds\":%.3f,\"records_per_sec\":%.0f,\"mib_per_sec\":%.1f,"
         "\"consumed\":%lld,\"consume_seconds\":%.3f,\"consume_mib_per_sec\":%.1f,"
         "\"last_error\":\"%s\"}\n",
         size, partitions, acks, sent, acked, failed, produce_s, acked / produce_s,
         mib / produce_s, got, consume_s, (double)got * size / (1024.0 * 1024.0) / consume_s,
         last_error);
  return got >= acked && failed == 0 ? 0 : 1;
}
