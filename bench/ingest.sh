#!/usr/bin/env bash
# Sustained ingest against a standalone RustMQ (WAL fsync on), from a C producer on librdkafka,
# with every figure also given as a ratio of the disk's own rate measured just before that run:
# dd writing 1 MiB blocks with O_DIRECT|O_DSYNC into the same directory the WAL uses.
#
# Usage: bench/ingest.sh              (from the repository root, or `deno task bench ingest`)
# Env:   SECONDS_PER_RUN (60), SIZES ("100 1024"), PARTITIONS ("1 6"), ACKS (1),
#        DD_MIB (1024), BENCH_DIR (a new directory under /var/tmp, removed at exit),
#        BROKER_DENO_FLAGS (extra `deno run` flags for the broker, e.g.
#        "--cpu-prof --cpu-prof-dir=/tmp/prof": the profile is written when the broker stops)
#
# Needs gcc and librdkafka-dev; as root it installs them with apt-get. Broker RSS is the peak
# (VmHWM) of the broker process over the whole run, next to the caches it was configured with.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${SECONDS_PER_RUN:-60}
SIZES=${SIZES:-"100 1024"}
PARTITIONS=${PARTITIONS:-"1 6"}
ACKS=${ACKS:-1}
DD_MIB=${DD_MIB:-1024}

if ! command -v gcc >/dev/null || [ ! -f /usr/include/librdkafka/rdkafka.h ] || ! command -v jq >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing gcc, librdkafka-dev and jq (apt-get)" >&2
    (apt-get update -qq && apt-get install -y -qq gcc librdkafka-dev jq) >&2
  else
    echo "bench/ingest.sh needs gcc, librdkafka-dev and jq: apt-get install gcc librdkafka-dev jq" >&2
    exit 1
  fi
fi

WORK=${BENCH_DIR:-$(mktemp -d /var/tmp/rustmq-ingest.XXXXXX)}
mkdir -p "$WORK"
BROKER_PID=
cleanup() {
  [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null || true
  # Waiting lets a stopped broker finish writing (a CPU profile, when asked for).
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

gcc -O2 -Wall -o "$WORK/ingest" bench/ingest.c -lrdkafka

# The disk's rate for durable 1 MiB writes, in the directory the WAL uses. Measured again just
# before every run: on a shared cloud volume it moved from about 530 to 1,060 MiB/s within an
# hour, so a ratio against one figure from the start said more about the disk than RustMQ.
mkdir -p "$WORK/rustmq"
dd_mibs() {
  local out bytes seconds
  out=$(dd if=/dev/zero of="$WORK/rustmq/dd.bin" bs=1M count="$DD_MIB" oflag=direct,dsync 2>&1 | tail -1)
  rm -f "$WORK/rustmq/dd.bin"
  bytes=$(awk '{print $1}' <<<"$out")
  seconds=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) print $(i - 1)}' <<<"$out" | tr -d ,)
  awk -v b="$bytes" -v s="$seconds" 'BEGIN { printf "%.1f", b / s / 1048576 }'
}

free_port() {
  deno eval 'const l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); console.log(l.addr.port); l.close();'
}
PORT=$(free_port)
HTTP=$(free_port)
cat >"$WORK/rustmq.toml" <<TOML
[network]
kafka_listen = "127.0.0.1:$PORT"
quic_listen = "127.0.0.1:$PORT"
http_listen = "127.0.0.1:$HTTP"
[wal]
fsync_on_write = true
TOML
# shellcheck disable=SC2086 # BROKER_DENO_FLAGS is a list of flags.
deno run -A --unstable-net ${BROKER_DENO_FLAGS:-} main.ts standalone --data "$WORK/rustmq" --config "$WORK/rustmq.toml" \
  >"$WORK/rustmq.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 200); do
  grep -q "is ready" "$WORK/rustmq.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "is ready" "$WORK/rustmq.log" || { cat "$WORK/rustmq.log" >&2; exit 1; }

rss_mib() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$BROKER_PID/status"; }

printf '\n%-10s %-6s %-5s %12s %10s %10s %10s %12s %10s %9s\n' record partitions acks "records/s" \
  "MiB/s" "dd MiB/s" "x dd" "consume MiB/s" "failed" "RSS MiB"
STATUS=0
for size in $SIZES; do
  for parts in $PARTITIONS; do
    topic="ingest-$size-$parts"
    DD_MIBS=$(dd_mibs)
    if ! out=$("$WORK/ingest" "127.0.0.1:$PORT" "$topic" "$parts" "$size" "$ACKS" "$SECONDS_PER_RUN"); then
      STATUS=1
    fi
    rps=$(jq -r .records_per_sec <<<"$out")
    mibs=$(jq -r .mib_per_sec <<<"$out")
    ratio=$(awk -v a="$mibs" -v b="$DD_MIBS" 'BEGIN { printf "%.2f", a / b }')
    printf '%-10s %-6s %-5s %12s %10s %10s %10s %12s %10s %9s\n' "$size B" "$parts" "$ACKS" "$rps" \
      "$mibs" "$DD_MIBS" "$ratio" "$(jq -r .consume_mib_per_sec <<<"$out")" "$(jq -r .failed <<<"$out")" \
      "$(rss_mib)"
    echo "$out" >>"$WORK/results.jsonl"
  done
done
echo
echo "dd: 1 MiB O_DIRECT|O_DSYNC writes just before each run" >&2
echo "broker caches as configured: see 'rustmq standalone --check'" >&2
[ "$STATUS" = 0 ] || echo "some run lost or failed records: see the JSON above" >&2
exit "$STATUS"
