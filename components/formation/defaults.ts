/** Redis's CLUSTER_MIN_REJOIN_DELAY (cluster.c): a node timeout at or below it gains nothing from being lowered while forming. */
export const REDIS_MIN_REJOIN_DELAY_MS = 500;

/**
 * Every default of the formation engine, the provider and both transports, in one table, each
 * with the reason for its value (ioredis' ClusterOptions defaults are the model). Callers may
 * override some of them (FormOptions, FormationInputs, KubernetesTransportOptions); the rest are
 * fixed here. Pure data, Pulumi-free.
 */
export const FORMATION_DEFAULTS = {
    // ── Waiting (wait.ts) ─────────────────────────────────────────────────────────────────────
    /** Upper bound of every single wait of the engine: a local cluster forms in about a second, so a minute means something is wrong. */
    stepTimeoutMs: 60_000,
    /** Interval of the engine's polls over all nodes: Redis's cluster cron runs every 100 ms, so 20 ms sees a change within a fifth of a round. */
    pollMs: 20,
    /** Each poll asks every node for CLUSTER NODES; on big clusters that load slows the very gossip being waited for, so the interval grows by this much per node. */
    pollMsPerNode: 2,
    /** Interval while a replica waits to know its master: its view is one node, so asking often is cheap (the caller's pollMs wins, e.g. over exec). */
    pairingPollMs: 10,
    /**
     * A long wait or operation reports what it waits for, and for how long, at least this often: `pulumi up`
     * shows nothing else while a formation waits, and a minute of silence reads as a hang.
     */
    progressEveryMs: 15_000,

    // ── Fresh formation (plan.ts) ─────────────────────────────────────────────────────────────
    /**
     * Above this many nodes a fresh formation drops the announce round (its N·(N-1) extra handshakes cost
     * more than Redis's own pings save) and pairs replicas with their masters before the mesh, so the
     * initial syncs run while the nodes are idle. The crossover lay between 40 and 60 nodes on 2 cores.
     */
    largeClusterNodes: 40,
    /**
     * cluster-node-timeout of the new masters while a fresh cluster forms, restored (and checked) once it is
     * usable. Redis keeps a master in cluster_state:fail for its rejoin delay, cluster-node-timeout clamped
     * to 500-5000 ms, after it last saw itself in the minority, which a new master does until it owns slots.
     * 499 gets the clamp's floor and is below what config allows (500), so a node found at it was left so by
     * a formation; only masters are lowered, so their replicas keep the configured value to restore.
     */
    formationNodeTimeoutMs: 499,

    // ── Slot moves (migrate.ts) ───────────────────────────────────────────────────────────────
    /** Slots whose SETSLOTs go out together: one exec per side and batch over Kubernetes, where a round trip costs far more than the command. */
    slotsPerBatch: 64,
    /** Batches moved at once by the direct transport: enough to hide round trips, few enough not to starve the nodes' event loops. */
    migrationConcurrency: 32,
    /** Keys asked for per CLUSTER GETKEYSINSLOT (and moved per MIGRATE at most): redis-cli's reshard uses the same pipeline size. */
    keysPerMigrate: 100,
    /** Key-name characters per MIGRATE: over Kubernetes the names travel in the exec URL (see maxExecUrlChars). */
    migrateKeyChars: 2000,
    /** MIGRATE's own timeout: a key of many megabytes on a busy node still moves; a dead target fails within it. */
    migrateTimeoutMs: 10_000,
    /** A progress line every this many moved slots: a 3 -> 4 scale-out logs four lines, not 4096. */
    progressEverySlots: 1024,
    /** Rounds of finishing interrupted slot moves before giving up: one is normal, more means something else keeps opening slots. */
    openSlotRounds: 3,
    /**
     * A scale-in moves slots only while every receiving master stays below this share of its maxmemory: a
     * RESTORE into a node at maxmemory fails with OOM (noeviction) and would stop the drain half-way; the
     * rest absorbs the estimate's error (keys spread unevenly over slots) and the writes during the drain.
     */
    drainMemoryHeadroom: 0.9,

    /** A manual failover not done after this long is requested again: Redis abandons one after 5 s (CLUSTER_MF_TIMEOUT). */
    manualFailoverRetryMs: 6000,

    // ── Provider (provider.ts) ────────────────────────────────────────────────────────────────
    /** How long the provider waits for the pods to be Ready: a new GKE node pool can take minutes to schedule and pull. */
    providerTimeoutMs: 600_000,
    /** Upper bound of each formation step over Kubernetes: a scale-out's reshard moves thousands of slots in one step. */
    providerStepTimeoutMs: 300_000,
    /** Interval while listing pods: the API server is shared, and pods take seconds to become Ready. */
    podPollMs: 2000,
    /** Interval of the engine's polls over exec: each poll is one exec per pod, so 20 ms would be a flood of API requests. */
    execPollMs: 500,

    // ── Direct transport (transport.ts) ───────────────────────────────────────────────────────
    /** Upper bound of one command over ioredis: the engine asks again itself, so a stalled node should fail the call, not hang it. */
    directCommandTimeoutMs: 5000,
    /** Reconnection attempts of a direct connection before its calls fail: a dead node fails fast instead of queueing. */
    directReconnectAttempts: 3,
    /** Delay between those attempts grows by this much each time. */
    directReconnectStepMs: 50,

    // ── Kubernetes transport (kubernetesTransport.ts) ─────────────────────────────────────────
    /** Upper bound of one exec: redis-cli answers in milliseconds; an API server or kubelet that takes longer is in trouble. */
    execTimeoutMs: 30_000,
    /** A reshard moves thousands of slots with their keys inside one exec. */
    reshardTimeoutMs: 1_800_000,
    /**
     * Longest exec request target (path and query string): the command travels in the query string, and
     * proxies in front of API servers commonly cap a request line at 8 KiB (Node's own HTTP server refuses
     * 16 KiB of headers with 431); kube-apiserver itself allows far more.
     */
    maxExecUrlChars: 8000,
} as const;
