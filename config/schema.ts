/**
 * The declarative schema of `broker.toml` and `controller.toml`: every section and key of the
 * seed README's configuration reference, with its type, default and allowed range, plus the keys
 * RustMQ added since (each marked `added`). Validation, defaults, documentation and the example
 * files are all derived from these tables, so a key exists in exactly one place.
 *
 * @module
 */

/** The type of one configuration value. */
export type KeyType = "string" | "int" | "float" | "bool" | "string[]" | "table";

/** One key of a section. */
export interface KeySpec<T = unknown> {
  readonly type: KeyType;
  readonly default: T;
  readonly doc: string;
  /** Inclusive lower bound for numbers. */
  readonly min?: number;
  /** Inclusive upper bound for numbers. */
  readonly max?: number;
  /** Allowed values for strings. */
  readonly oneOf?: readonly string[];
  /** Set when the key is not in the seed reference but was added by RustMQ. */
  readonly added?: boolean;
  /**
   * Set when the key can change at runtime (Kafka IncrementalAlterConfigs on the broker,
   * `PUT /api/v1/brokers/:id/config`, SIGHUP); config/dynamic_config.ts applies it.
   */
  readonly dynamic?: boolean;
}

/** A section name (dotted for nested tables) and its keys. */
export type SectionSpec = Readonly<Record<string, KeySpec>>;
/** A whole file's schema: section name to keys. */
export type FileSchema = Readonly<Record<string, SectionSpec>>;

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
const INT32_MAX = 2 ** 31 - 1;
const SIZE_MAX = Number.MAX_SAFE_INTEGER;

/** Log levels, from most to least verbose. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

function _int(def: number, min: number, max: number, doc: string, added = false): KeySpec<number> {
  return { type: "int", default: def, min, max, doc, ...(added ? { added } : {}) };
}
function _str(
  def: string,
  doc: string,
  oneOf?: readonly string[],
  added = false,
): KeySpec<string> {
  return {
    type: "string",
    default: def,
    doc,
    ...(oneOf ? { oneOf } : {}),
    ...(added ? { added } : {}),
  };
}
function _bool(def: boolean, doc: string, added = false): KeySpec<boolean> {
  return { type: "bool", default: def, doc, ...(added ? { added } : {}) };
}
/** Marks `spec` as changeable at runtime. */
function _dyn<T>(spec: KeySpec<T>): KeySpec<T> {
  return { ...spec, dynamic: true };
}
function _float(def: number, min: number, max: number, doc: string): KeySpec<number> {
  return { type: "float", default: def, min, max, doc };
}

const _CLUSTER_SECRET_DOC =
  "File holding the cluster secret (32+ printable bytes, e.g. openssl rand -hex 32) that " +
  "brokers and controllers present to each other: controller gRPC (Raft, broker registration) " +
  "and broker replication refuse a peer without it (empty: no cluster authentication)";

// The internal-TLS keys, the same in broker.toml and controller.toml (see ops/internal_tls.ts).
const _INTERNAL_TLS = {
  internal_tls_cert_path: _str(
    "",
    "PEM certificate this node serves and presents on cluster-internal ports: controller gRPC " +
      "(Raft, broker service) and broker replication; it must name the address peers dial " +
      "(empty, with the other two: internal ports are plaintext)",
    undefined,
    true,
  ),
  internal_tls_key_path: _str("", "PEM private key of internal_tls_cert_path", undefined, true),
  internal_tls_ca_path: _str(
    "",
    "PEM CA that every peer's internal certificate must chain to (mutual TLS: peers without " +
      "one are refused)",
    undefined,
    true,
  ),
};

/** The schema of `broker.toml`. */
export const BROKER_SCHEMA = {
  broker: {
    id: _str("broker-001", "Unique broker identifier"),
    rack_id: _str("us-central1-a", "Availability zone for rack awareness"),
    log_level: _dyn(_str("info", "Log level; RUSTMQ_LOG_LEVEL overrides it", LOG_LEVELS, true)),
    auto_create_topics: _dyn(_bool(
      true,
      "Create unknown topics on first metadata request or produce",
      true,
    )),
    num_partitions: _dyn(_int(1, 1, 10000, "Partitions of auto-created topics", true)),
    log_retention_ms: _dyn(_int(
      604_800_000,
      -1,
      Number.MAX_SAFE_INTEGER,
      "retention.ms of topics created through this broker without their own (-1: forever)",
      true,
    )),
    message_max_bytes: _dyn(_int(
      1_048_588,
      0,
      INT32_MAX,
      "max.message.bytes of topics created through this broker without their own",
      true,
    )),
    message_downconversion_enable: _dyn(_bool(
      true,
      "message.downconversion.enable of topics created through this broker without their own: false answers Fetch v0-3 (message sets) with UNSUPPORTED_VERSION",
      true,
    )),
    transactions_enabled: _bool(
      true,
      "Serve Kafka transactions (KIP-98); when false, transactional producers get TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
      true,
    ),
    transaction_max_timeout_ms: _int(
      900000,
      1,
      INT32_MAX,
      "Largest transaction.timeout.ms a producer may ask for (INVALID_TRANSACTION_TIMEOUT above it)",
      true,
    ),
    transactional_id_expiration_ms: _int(
      604800000,
      1,
      INT32_MAX,
      "Forget a transactional id after it has been idle this long",
      true,
    ),
    transaction_abort_check_interval_ms: _int(
      10000,
      1,
      INT32_MAX,
      "How often timed-out transactions are aborted and unfinished markers retried",
      true,
    ),
    advertised_host: _str(
      "",
      "Host clients should connect to (empty: the listen host, or 127.0.0.1)",
      undefined,
      true,
    ),
  },
  network: {
    quic_listen: _str("0.0.0.0:9092", "QUIC client endpoint (UDP)"),
    kafka_listen: _str("0.0.0.0:9092", "Kafka protocol client endpoint (TCP)", undefined, true),
    rpc_listen: _str("0.0.0.0:9093", "Replication endpoint (followers fetch from leaders)"),
    http_listen: _str(
      "0.0.0.0:9642",
      "Operations HTTP: /health, /ready, /metrics",
      undefined,
      true,
    ),
    max_connections: _int(10000, 1, 1_000_000, "Maximum concurrent client connections"),
    connection_timeout_ms: _int(
      600000,
      100,
      INT32_MAX,
      "Close a connection idle this long. 10 minutes, Kafka's connections.max.idle.ms: librdkafka logs each idle close, so a short value fills idle clients' logs",
    ),
    max_request_bytes: _int(100 * MIB, 1 * KIB, 1 * GIB, "Largest accepted request frame", true),
    max_in_flight_requests: _int(5, 1, 1024, "Requests processed at once per connection", true),
    tls_cert_path: _str(
      "",
      "PEM certificate for TLS on the Kafka listener, also served on QUIC (empty: plain TCP, and QUIC serves a development certificate from the data directory)",
      undefined,
      true,
    ),
    tls_key_path: _str("", "PEM private key for tls_cert_path", undefined, true),
  },
  "network.quic_config": {
    max_concurrent_uni_streams: _int(
      1000,
      0,
      1_000_000,
      "QUIC unidirectional streams per connection",
    ),
    max_concurrent_bidi_streams: _int(
      1000,
      1,
      1_000_000,
      "QUIC bidirectional streams per connection, and requests in progress per QUIC connection",
    ),
    max_idle_timeout_ms: _int(30000, 100, INT32_MAX, "QUIC idle timeout"),
    max_stream_data: _int(
      1024000,
      1 * KIB,
      1 * GIB,
      "QUIC per-stream flow-control window (bytes); Deno 2.9 cannot set it, so only the default is accepted",
    ),
    max_connection_data: _int(
      10240000,
      1 * KIB,
      4 * GIB,
      "QUIC per-connection window (bytes); Deno 2.9 cannot set it, so only the default is accepted",
    ),
  },
  wal: {
    path: _str("/var/lib/rustmq/wal", "WAL directory"),
    capacity_bytes: _int(
      10 * GIB,
      1 * MIB,
      SIZE_MAX,
      "WAL capacity; appends wait, then fail, when full",
    ),
    fsync_on_write: _bool(true, "Acknowledge only after data is durable"),
    segment_size_bytes: _int(1 * GIB, 64 * KIB, 64 * GIB, "WAL segment size"),
    buffer_size: _int(65536, 4 * KIB, 1 * GIB, "Group-commit write buffer size"),
    upload_interval_ms: _int(
      600000,
      10,
      INT32_MAX,
      "Upload WAL data to object storage at least this often",
    ),
    flush_interval_ms: _int(1000, 1, INT32_MAX, "Flush interval when fsync_on_write is false"),
    io_backend: _str("auto", "WAL I/O backend", ["auto", "ffi", "portable"], true),
    clamp_capacity_to_disk: _bool(
      false,
      "At start, lower capacity_bytes to the room on the WAL's filesystem (else refuse to start)",
      true,
    ),
  },
  cache: {
    write_cache_size_bytes: _int(1 * GIB, 1 * MIB, SIZE_MAX, "Log cache for recent data"),
    read_cache_size_bytes: _dyn(_int(
      2 * GIB,
      0,
      SIZE_MAX,
      "Block cache for data read from object storage",
    )),
    eviction_policy: _str("Lru", "Eviction policy of the read (block) cache", [
      "Lru",
      "Lfu",
      "Random",
    ]),
  },
  object_storage: {
    storage_type: _str("S3", "Storage backend; `type` is accepted as another name", [
      "S3",
      "Gcs",
      "Azure",
      "Local",
    ]),
    bucket: _str("rustmq-data", "Storage bucket name"),
    region: _str("us-central1", "Storage region"),
    endpoint: _str("http://minio:9000", "Storage endpoint (empty: the provider's default)"),
    access_key: _str("", "Access key (optional)"),
    secret_key: _str("", "Secret key (optional)"),
    multipart_threshold: _int(100 * MIB, 5 * MIB, 5 * GIB, "Multipart upload threshold (bytes)"),
    max_concurrent_uploads: _int(
      10,
      1,
      1000,
      "Objects the uploader writes at once, and PUTs in flight to the store",
    ),
    local_path: _str("./data/objects", "Directory of the Local backend", undefined, true),
    credentials_path: _str(
      "",
      "GCS service-account key file (empty: application default)",
      undefined,
      true,
    ),
    key_prefix: _str("rustmq/", "Prefix of every object key RustMQ writes", undefined, true),
    upload_bytes_target: _int(
      16 * MIB,
      64 * KIB,
      5 * GIB,
      "Upload once this much data is pending; the object size aimed for",
      true,
    ),
    compaction_threshold_bytes: _int(
      4 * MIB,
      0,
      5 * GIB,
      "Multi-partition objects smaller than this are compacted per partition",
      true,
    ),
    gc_grace_ms: _int(
      600000,
      0,
      INT32_MAX,
      "Unreferenced objects younger than this are not garbage collected",
      true,
    ),
    maintenance_interval_ms: _int(
      30000,
      10,
      INT32_MAX,
      "How often retention, compaction and garbage collection run",
      true,
    ),
  },
  controller: {
    endpoints: <KeySpec<string[]>> {
      type: "string[]",
      default: ["controller-1:9094", "controller-2:9094", "controller-3:9094"],
      doc: "Controller gRPC endpoints",
    },
    election_timeout_ms: _int(
      5000,
      10,
      INT32_MAX,
      "The controllers' election timeout: a broker retries a controller request across failovers for three times this",
    ),
    heartbeat_interval_ms: _int(1000, 1, INT32_MAX, "Heartbeat frequency"),
  },
  replication: {
    min_in_sync_replicas: _dyn(_int(
      2,
      1,
      16,
      "Minimum replicas for acknowledgment: min.insync.replicas of topics created without their own",
    )),
    ack_timeout_ms: _int(5000, 1, INT32_MAX, "Replication acknowledgment timeout"),
    max_replication_lag: _int(1000, 1, INT32_MAX, "Maximum acceptable lag (records)"),
    heartbeat_timeout_ms: _int(30000, 1, INT32_MAX, "Follower heartbeat timeout"),
    default_replication_factor: _dyn(
      _int(3, 1, 16, "Replication factor of auto-created topics", true),
    ),
    unclean_leader_election: _bool(
      false,
      "Allow a leader from outside the ISR; the controllers elect, so set it in controller.toml (only the default is accepted here)",
      true,
    ),
  },
  etl: {
    enabled: _bool(true, "Enable WebAssembly ETL processing"),
    memory_limit_bytes: _int(64 * MIB, 1 * MIB, 4 * GIB, "Memory limit per module"),
    execution_timeout_ms: _int(5000, 1, INT32_MAX, "Execution timeout"),
    max_concurrent_executions: _int(100, 1, 100000, "Concurrent execution limit"),
    batch_size: _int(
      1000,
      1,
      1_000_000,
      "Records per module call; RUSTMQ_BATCH_SIZE overrides it",
      true,
    ),
  },
  scaling: {
    max_concurrent_additions: _int(3, 1, 100, "Max brokers added simultaneously"),
    max_concurrent_decommissions: _int(1, 1, 100, "Max brokers decommissioned simultaneously"),
    rebalance_timeout_ms: _int(300000, 1, INT32_MAX, "Partition rebalancing timeout"),
    traffic_migration_rate: _float(0.1, 0, 1, "Traffic migration rate per minute"),
    health_check_timeout_ms: _int(30000, 1, INT32_MAX, "Health check timeout"),
  },
  operations: {
    allow_runtime_config_updates: _bool(true, "Enable runtime config updates"),
    upgrade_velocity: _int(3, 1, 1000, "Brokers upgraded per minute"),
    graceful_shutdown_timeout_ms: _int(30000, 0, INT32_MAX, "Graceful shutdown timeout"),
  },
  security: {
    kafka_listener_protocol: _str(
      "",
      "Protocol of the Kafka TCP listener: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL " +
        "(empty: SSL when network.tls_cert_path is set, else PLAINTEXT); QUIC takes the same SASL",
      ["", "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
      true,
    ),
    allow_sasl_plaintext: _bool(
      false,
      "Allow SASL_PLAINTEXT, which sends PLAIN passwords and SCRAM exchanges unencrypted",
      true,
    ),
    sasl_enabled_mechanisms: <KeySpec<string[]>> {
      type: "string[]",
      default: ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
      doc: "SASL mechanisms offered: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
      added: true,
    },
    sasl_max_receive_bytes: _int(
      512 * KIB,
      64,
      100 * MIB,
      "Largest request accepted before a connection has authenticated",
      true,
    ),
    auth_failure_delay_ms: _int(
      100,
      0,
      60000,
      "Delay before a failed authentication is answered and closed; doubles per failure from the same IP",
      true,
    ),
    auth_failure_delay_max_ms: _int(
      5000,
      0,
      600000,
      "Upper bound of the per-IP failed-authentication delay",
      true,
    ),
    authorizer_enabled: _bool(false, "Check every Kafka request against the ACLs", true),
    super_users: <KeySpec<string[]>> {
      type: "string[]",
      default: [],
      doc: "Principals (User:<name>) allowed everything, ACLs or not",
      added: true,
    },
    allow_everyone_if_no_acl_found: _bool(
      false,
      "Allow a request on a resource that no ACL names (with authorizer_enabled)",
      true,
    ),
    cluster_secret_file: _str("", _CLUSTER_SECRET_DOC, undefined, true),
    ..._INTERNAL_TLS,
    ssl_client_auth: _str(
      "none",
      "Client certificates on the SSL/SASL_SSL Kafka listener (Kafka's ssl.client.auth): none, " +
        "requested (verified if sent, else anonymous) or required (refused without one)",
      ["none", "requested", "required"],
      true,
    ),
    ssl_client_ca_path: _str(
      "",
      "PEM CA certificates that client certificates must chain to (with ssl_client_auth)",
      undefined,
      true,
    ),
    ssl_principal_mapping_rules: <KeySpec<string[]>> {
      type: "string[]",
      default: ["DEFAULT"],
      doc: "Kafka's ssl.principal.mapping.rules, tried in order on the certificate name: " +
        "RULE:pattern/replacement/[LU] or DEFAULT; the result is User:<name> (SSL listener)",
      added: true,
    },
    ssl_principal_source: _str(
      "subject",
      "What the mapping rules read: subject (the RFC 2253 DN, as Kafka) or san (each subject " +
        "alternative name, as DNS:x, email:x, URI:x)",
      ["subject", "san"],
      true,
    ),
  },
  // Deployment settings: the k8s/ manifests carry them, so only the defaults are accepted here.
  "operations.kubernetes": {
    use_stateful_sets: _bool(true, "Use StatefulSets for deployment"),
    pvc_storage_class: _str("fast-ssd", "Storage class for persistent volumes"),
    wal_volume_size: _str("50Gi", "WAL volume size"),
    enable_pod_affinity: _bool(true, "Enable pod affinity for volume attachment"),
  },
} satisfies FileSchema;

/** The schema of `controller.toml`. */
export const CONTROLLER_SCHEMA = {
  controller: {
    node_id: _str("controller-001", "Unique controller identifier"),
    raft_listen: _str("0.0.0.0:9095", "Raft consensus endpoint"),
    rpc_listen: _str("0.0.0.0:9094", "Broker-facing gRPC endpoint"),
    http_listen: _str("0.0.0.0:9642", "Admin REST API and operations endpoint"),
    data_dir: _str("./data/controller", "Raft log, hard state and snapshots", undefined, true),
    log_level: _str("info", "Log level; RUSTMQ_LOG_LEVEL overrides it", LOG_LEVELS, true),
    admin_token: _str("", "Bearer token guarding admin writes (empty: none)", undefined, true),
    broker_lease_ms: _int(
      9000,
      100,
      INT32_MAX,
      "A broker that sends no heartbeat for this long is fenced",
      true,
    ),
    snapshot_entries: _int(10000, 1, INT32_MAX, "Applied log entries between snapshots", true),
    unclean_leader_election: _bool(
      false,
      "Let a partition with no live ISR member elect any live replica (may lose data)",
      true,
    ),
  },
  raft: {
    peers: <KeySpec<string[]>> {
      type: "string[]",
      default: [
        "controller-1@controller-1:9095",
        "controller-2@controller-2:9095",
        "controller-3@controller-3:9095",
      ],
      doc: "Voters, as node_id@host:port",
    },
    election_timeout_ms: _int(5000, 10, INT32_MAX, "Leader election timeout"),
    heartbeat_interval_ms: _int(1000, 1, INT32_MAX, "Heartbeat frequency"),
  },
  admin: {
    port: _int(
      9642,
      1,
      65535,
      "Admin REST API port; it is http_listen's, so only the default is accepted",
    ),
    health_check_interval_ms: _int(
      15000,
      1,
      INT32_MAX,
      "Health check interval; broker liveness is controller.broker_lease_ms, so only the default is accepted",
    ),
    health_timeout_ms: _int(
      30000,
      1,
      INT32_MAX,
      "Health timeout; broker liveness is controller.broker_lease_ms, so only the default is accepted",
    ),
    enable_cors: _bool(true, "Send CORS headers on /api/*"),
    log_requests: _bool(true, "Log each /api/* request (method, path, status, client, ms)"),
  },
  "admin.rate_limiting": {
    enabled: _bool(true, "Enable rate limiting"),
    global_burst_size: _int(1000, 1, INT32_MAX, "Global burst capacity"),
    global_refill_rate: _int(60, 1, INT32_MAX, "Global requests per minute"),
    per_ip_burst_size: _int(100, 1, INT32_MAX, "Per-IP burst capacity"),
    per_ip_refill_rate: _int(30, 1, INT32_MAX, "Per-IP requests per minute"),
    cleanup_interval_seconds: _int(3600, 1, INT32_MAX, "Cleanup of expired limiters"),
    endpoints: <KeySpec<Record<string, unknown>>> {
      type: "table",
      default: {},
      doc: "Per-endpoint limits: { burst_size, refill_rate }",
    },
  },
  scaling: {
    max_concurrent_decommissions: _int(
      1,
      1,
      100,
      "Brokers that may drain at once (decommission slots)",
      true,
    ),
    rebalance_timeout_ms: _int(
      300000,
      1,
      INT32_MAX,
      "A partition move whose new replicas are not in sync by then is reverted",
      true,
    ),
    traffic_migration_rate: {
      ..._float(
        0.1,
        0,
        1,
        "Fraction of all partitions whose moves may start per minute (0: no limit)",
      ),
      added: true,
    },
  },
  security: {
    cluster_secret_file: _str("", _CLUSTER_SECRET_DOC, undefined, true),
    ..._INTERNAL_TLS,
    admin_tls_cert_path: _str(
      "",
      "PEM certificate for HTTPS on http_listen (admin REST API and operations endpoint; " +
        "empty: plain HTTP)",
      undefined,
      true,
    ),
    admin_tls_key_path: _str("", "PEM private key of admin_tls_cert_path", undefined, true),
  },
  autobalancer: {
    enabled: _bool(
      false,
      "Let the controller leader start rebalance jobs on its own: on a broker over a threshold, " +
        "records-in skew above 1.5x the mean, or uneven replica counts (GET /api/v1/autobalancer)",
    ),
    cpu_threshold: _float(
      0.8,
      0,
      1,
      "A broker whose reported CPU use (fraction of its cores) exceeds this triggers BALANCE_LOAD",
    ),
    memory_threshold: _float(
      0.75,
      0,
      1,
      "A broker whose resident memory (fraction of its machine's) exceeds this triggers BALANCE_LOAD",
    ),
    cooldown_seconds: _int(
      300,
      0,
      INT32_MAX,
      "Seconds the auto-balancer waits after starting a job before it may start another",
    ),
  },
} satisfies FileSchema;

/** The typed configuration a schema describes: section to key to value. */
export type ConfigOf<S> = {
  -readonly [Sec in keyof S]: {
    -readonly [K in keyof S[Sec]]: S[Sec][K] extends KeySpec<infer T> ? T : never;
  };
};

/** A validated `broker.toml`, with defaults filled in. */
export type BrokerConfig = ConfigOf<typeof BROKER_SCHEMA>;
/** A validated `controller.toml`, with defaults filled in. */
export type ControllerConfig = ConfigOf<typeof CONTROLLER_SCHEMA>;

/** Environment variables that override a broker key, as `VAR -> [section, key]`. */
export const BROKER_ENV_OVERRIDES: Readonly<Record<string, readonly [string, string]>> = {
  RUSTMQ_BROKER_ID: ["broker", "id"],
  RUSTMQ_RACK_ID: ["broker", "rack_id"],
  RUSTMQ_LOG_LEVEL: ["broker", "log_level"],
  RUSTMQ_WAL_PATH: ["wal", "path"],
  RUSTMQ_STORAGE_BUCKET: ["object_storage", "bucket"],
  RUSTMQ_STORAGE_REGION: ["object_storage", "region"],
  // The seed's example value (2147483648) is its read-cache default, so this sizes the block cache.
  RUSTMQ_CACHE_SIZE: ["cache", "read_cache_size_bytes"],
  RUSTMQ_MAX_CONNECTIONS: ["network", "max_connections"],
  RUSTMQ_BATCH_SIZE: ["etl", "batch_size"],
};

/** Environment variables that override a controller key. */
export const CONTROLLER_ENV_OVERRIDES: Readonly<Record<string, readonly [string, string]>> = {
  RUSTMQ_LOG_LEVEL: ["controller", "log_level"],
};
