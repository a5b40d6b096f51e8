/**
 * redis.conf rendering shared by the Kubernetes ConfigMap and the local embedded
 * cluster, so both run the very same Redis settings.
 */

/** Settings common to every node of one cluster. */
export interface RedisConfOptions {
    /** Milliseconds a node may be unreachable before it is failed over. */
    readonly nodeTimeoutMs: number;
    /** Data directory (AOF + nodes.conf live here: the PVC on Kubernetes). */
    readonly dataDir: string;
    /** Client port; the cluster bus is this + 10000. */
    readonly port: number;
    /** `hostname` on Kubernetes (stable pod DNS names survive IP churn); `ip` locally. */
    readonly preferredEndpointType: "hostname" | "ip";
    /** Max memory in bytes (0 = unlimited); derived from the container limit on Kubernetes. */
    readonly maxMemoryBytes?: number;
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
}

/** The shared, secret-free part of redis.conf (one line a directive). */
export function renderRedisConf(o: RedisConfOptions): string {
    const lines = [
        `port ${o.port}`,
        `dir ${o.dataDir}`,
        "cluster-enabled yes",
        // nodes.conf on the volume: a restarted pod keeps its node ID and slots.
        "cluster-config-file nodes.conf",
        `cluster-node-timeout ${o.nodeTimeoutMs}`,
        // A shard that lost its master and replicas must not take the other shards down.
        "cluster-require-full-coverage no",
        "cluster-migration-barrier 1",
        "cluster-allow-replica-migration yes",
        `cluster-preferred-endpoint-type ${o.preferredEndpointType}`,
        // Stream the initial sync straight to the replica, without the default 5 s wait for more
        // replicas to batch: with 1-2 replicas per master it only delays the moment the replica
        // link is up, and until then a lost master cannot be failed over.
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
        "appendonly yes",
        "appendfsync everysec",
        // Passwords are always set, so protected mode can stay on.
        "protected-mode yes",
        "tcp-keepalive 60",
    ];
    if (o.maxMemoryBytes && o.maxMemoryBytes > 0) {
        lines.push(`maxmemory ${o.maxMemoryBytes}`, "maxmemory-policy noeviction");
    }
    return lines.join("\n") + "\n";
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
    return lines.join("\n") + "\n";
}

/** redis.conf accepts double-quoted strings with backslash escapes. */
export function quoteConfValue(value: string): string {
    return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}
