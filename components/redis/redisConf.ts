/**
 * redis.conf rendering shared by the Kubernetes ConfigMap and the local embedded
 * cluster, so both run the very same Redis settings.
 */

/**
 * How one Redis container's memory limit is shared, and how large its volume must be. Everything in
 * the container counts against the one cgroup limit, so `maxmemory` (the dataset) gets only half:
 *  - 1/2   the dataset (`maxmemory`, `noeviction`: writes fail with OOM rather than lose keys);
 *  - 1/4   copy-on-write of the AOF-rewrite fork (and of a replica's full sync): pages the parent
 *          writes while the child runs are copied; this reserve covers half the dataset rewritten;
 *  - 1/8   replica output buffers (`client-output-buffer-limit replica`, split between the
 *          replicas; a replica over its hard limit is disconnected and resyncs);
 *  - 1/8   allocator fragmentation, client buffers, Lua and the process itself.
 * The volume holds the AOF base (about the dataset) plus its increments (up to the base again before
 * the next rewrite), the `dump.rdb` of the last full sync (a master writes it for its replica, a
 * replica receives it; Redis keeps it since the AOF is on), and the output of the one fork Redis runs
 * at a time: a new AOF base or a new sync file beside the old one. At least 4 x `maxmemory`.
 */
export interface MemoryPlan {
    /** `maxmemory`: half the container's memory limit. */
    readonly maxMemoryBytes: number;
    /** Hard output-buffer limit of each replica connection. */
    readonly replicaBufferHardBytes: number;
    /** Soft limit: a replica above it for REPLICA_BUFFER_SOFT_SECONDS is disconnected. */
    readonly replicaBufferSoftBytes: number;
    /** Smallest volume that holds the AOF, a sync file and one fork's output: 4 x maxmemory. */
    readonly minVolumeBytes: number;
}

/** Fractions of the container limit, as documented on MemoryPlan. */
export const MEMORY_SHARES = { dataset: 1 / 2, forkCopyOnWrite: 1 / 4, replicaBuffers: 1 / 8, overhead: 1 / 8 } as const;
/** The volume holds at least this many times `maxmemory`. */
export const VOLUME_TO_MAXMEMORY = 4;
export const REPLICA_BUFFER_SOFT_SECONDS = 60;

/** The memory plan of a container with `limitBytes` of memory and `replicasPerMaster` replicas behind each master. */
export function memoryPlan(limitBytes: number, replicasPerMaster: number): MemoryPlan {
    const maxMemoryBytes = Math.floor(limitBytes * MEMORY_SHARES.dataset);
    const replicaBufferHardBytes = Math.floor((limitBytes * MEMORY_SHARES.replicaBuffers) / Math.max(1, replicasPerMaster));
    return {
        maxMemoryBytes,
        replicaBufferHardBytes,
        replicaBufferSoftBytes: Math.floor(replicaBufferHardBytes / 2),
        minVolumeBytes: maxMemoryBytes * VOLUME_TO_MAXMEMORY,
    };
}

/** Settings common to every node of one cluster. */
export interface RedisConfOptions {
    /** Milliseconds a node may be unreachable before it is failed over. */
    readonly nodeTimeoutMs: number;
    /**
     * Data directory (AOF + nodes.conf). Left out of the ConfigMap's conf: in a pod, node-start.sh
     * writes `dir $REDIS_DATA_DIR` into the runtime conf (Redis chdirs there while it reads the conf,
     * so a `dir` that does not exist where the conf is read would stop it).
     */
    readonly dataDir?: string;
    /** Client port; the cluster bus is this + 10000. */
    readonly port: number;
    /** `hostname` on Kubernetes (stable pod DNS names survive IP churn); `ip` locally. */
    readonly preferredEndpointType: "hostname" | "ip";
    /** maxmemory and buffer limits; derived from the container limit on Kubernetes (none locally). */
    readonly memory?: MemoryPlan;
    /**
     * TLS on every link: clients on `port` over TLS with the plain port off, the cluster bus and
     * replication over TLS. The certificate files are per node (renderNodeConf, node-start.sh).
     */
    readonly tls?: boolean;
    /** cluster-migration-barrier (default 1): 2 with the surge pod (see renderRedisConf). */
    readonly migrationBarrier?: number;
}

/** A node's certificate, key and CA files (TLS). */
export interface TlsFiles {
    readonly certFile: string;
    readonly keyFile: string;
    readonly caFile: string;
}

/** What differs per node. Secrets are passed separately so the shared part can live in a ConfigMap. */
export interface RedisNodeConfOptions {
    /** Address to listen on; locally also the cluster bus source address. */
    readonly bind?: string;
    /** Locally every node has its own loopback address and the bus must originate from it. */
    readonly bindSourceAddr?: string;
    /** Stable DNS name announced in MOVED/CLUSTER SLOTS. */
    readonly announceHostname?: string;
    /** Address announced to peers (the pod IP on Kubernetes). */
    readonly announceIp?: string;
    /** requirepass + masterauth. */
    readonly password: string;
    /** With a TLS conf: where this node's certificate, key and CA are. */
    readonly tls?: TlsFiles;
}

/** The shared, secret-free part of redis.conf (one line a directive). */
export function renderRedisConf(o: RedisConfOptions): string {
    const lines = [
        ...(o.tls ? tlsDirectives(o.port) : [`port ${o.port}`]),
        ...(o.dataDir ? [`dir ${quoteConfValue(o.dataDir)}`] : []),
        "cluster-enabled yes",
        // nodes.conf on the volume: a restarted pod keeps its node ID and slots.
        "cluster-config-file nodes.conf",
        `cluster-node-timeout ${o.nodeTimeoutMs}`,
        // A shard that lost its master and replicas must not take the other shards down.
        "cluster-require-full-coverage no",
        // A replica migrates to an orphaned master only if its own master keeps this many. With one
        // replica per master a master has a second one only while the surge pod stands in (surge.sh);
        // migrating the member then would strand the surge node as that shard's only replica, so 2.
        `cluster-migration-barrier ${o.migrationBarrier ?? 1}`,
        "cluster-allow-replica-migration yes",
        `cluster-preferred-endpoint-type ${o.preferredEndpointType}`,
        // Full syncs go through an RDB file on the master's volume, not a diskless stream. After a
        // streamed sync the master sends the replica no writes until the replica's REPLCONF ACK, and
        // ignores the replica's first ACK when it arrives before the master has reaped the RDB child
        // (a race measured here in about 1 crash in 13): the next ACK comes a second later, and for
        // that second WAIT 1 cannot count the replica, so a 3x1 shard refuses durable writes. With a
        // file the master streams right after sending it. It starts at once (no batching delay), and
        // the file fits the volume's sizing (memoryPlan).
        "repl-diskless-sync no",
        "appendonly yes",
        "appendfsync everysec",
        // The AOF is the persistence: RDB snapshots would only add a fork (and its copy-on-write)
        // every few minutes under load. Full syncs still write an RDB (above), only when a replica needs one.
        'save ""',
        // Passwords are always set, so protected mode can stay on.
        "protected-mode yes",
        "tcp-keepalive 60",
    ];
    if (o.memory) {
        const m = o.memory;
        lines.push(
            `maxmemory ${m.maxMemoryBytes}`,
            "maxmemory-policy noeviction",
            `client-output-buffer-limit replica ${m.replicaBufferHardBytes} ${m.replicaBufferSoftBytes} ${REPLICA_BUFFER_SOFT_SECONDS}`,
        );
    }
    return lines.join("\n") + "\n";
}

/**
 * TLS on every link. `port 0` closes the plain port, so nothing reaches Redis unencrypted. Clients
 * (`tls-auth-clients optional`) authenticate with their password and verify the server with the CA;
 * a client that does present a certificate must present one the CA signed. The cluster bus always
 * requires one (Redis accepts bus connections with client authentication on, whatever this says), so
 * only holders of the pod certificate take part in the cluster; replicas present it to their master.
 */
function tlsDirectives(port: number): string[] {
    return ["port 0", `tls-port ${port}`, "tls-cluster yes", "tls-replication yes", "tls-auth-clients optional"];
}

/** The directives that point a node at its TLS files (what node-start.sh writes from REDIS_TLS_DIR in a pod). */
export function renderTlsFilesConf(files: TlsFiles): string {
    return [
        `tls-cert-file ${quoteConfValue(files.certFile)}`,
        `tls-key-file ${quoteConfValue(files.keyFile)}`,
        `tls-ca-cert-file ${quoteConfValue(files.caFile)}`,
    ].join("\n");
}

/** Directives that differ per node, including the password (never written to a ConfigMap). */
export function renderNodeConf(o: RedisNodeConfOptions): string {
    if (!o.password) {
        throw new Error("password: a Redis node is never started without a password (requirepass + masterauth)");
    }
    const lines: string[] = [];
    if (o.bind) lines.push(`bind ${o.bind}`);
    if (o.bindSourceAddr) lines.push(`bind-source-addr ${o.bindSourceAddr}`);
    if (o.announceIp) lines.push(`cluster-announce-ip ${o.announceIp}`);
    if (o.announceHostname) lines.push(`cluster-announce-hostname ${o.announceHostname}`);
    lines.push(`requirepass ${quoteConfValue(o.password)}`, `masterauth ${quoteConfValue(o.password)}`);
    if (o.tls) lines.push(renderTlsFilesConf(o.tls));
    return lines.join("\n") + "\n";
}

/** redis.conf accepts double-quoted strings with backslash escapes. */
export function quoteConfValue(value: string): string {
    return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
