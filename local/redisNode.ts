/**
 * Bare redis-server processes on loopback addresses, one address per node and the same
 * port for all, with the shared redis.conf written directly (no start script, no
 * supervisor). The formation tests and benchmarks use them where the engine, not the pod,
 * is under test; the embedded local cluster runs pods (local/supervisor.ts). Processes are
 * detached and tracked by pidfile.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { TlsFiles, renderNodeConf, renderRedisConf } from "../components/redis/redisConf";
import { isAlive, terminate } from "../lib/process";
import { setTimeout as sleep } from "timers/promises";

export const REDIS_PORT = 6379;

export interface LocalNodeSpec {
    /** Loopback address of this node, e.g. 127.0.1.11. */
    readonly host: string;
    readonly port?: number;
    /** Directory for redis.conf, nodes.conf, AOF, log and pidfile. */
    readonly dir: string;
    readonly password: string;
    readonly nodeTimeoutMs: number;
    /** Stable name announced to peers (nodes.conf keeps it), e.g. what a pod DNS name is on Kubernetes. */
    readonly announceHostname?: string;
    /** Extra redis.conf directives, one per line (tests: e.g. a different timeout). */
    readonly extraConfig?: readonly string[];
    /** TLS on every link (the conf the pods get), with this node's certificate files. */
    readonly tls?: TlsFiles;
}

/**
 * redis-cli's arguments to reach `host:port` from this machine: with TLS, the CA it verifies the
 * server with (redis-cli checks the chain). The password goes in REDISCLI_AUTH, never here.
 */
export function redisCliArgs(host: string, port: number = REDIS_PORT, caFile?: string): string[] {
    return ["--no-auth-warning", "-h", host, "-p", String(port), ...(caFile ? ["--tls", "--cacert", caFile] : [])];
}

/** Path of redis-server, or a clear error that says how to install it. */
export function redisServerBinary(): string {
    const found = spawnSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" });
    const bin = found.stdout.trim();
    if (found.status !== 0 || !bin) {
        throw new Error(
            "redis-server was not found on PATH. Install Redis 7: " +
                "`sudo apt-get update && sudo apt-get install -y redis-server redis-tools` (Debian/Ubuntu) or `brew install redis` (macOS).",
        );
    }
    return bin;
}

/** Writes the node's redis.conf (shared part + per-node part) and returns its path. */
export function writeNodeConfig(spec: LocalNodeSpec): string {
    fs.mkdirSync(spec.dir, { recursive: true });
    const dataDir = path.resolve(spec.dir);
    const conf =
        renderRedisConf({
            nodeTimeoutMs: spec.nodeTimeoutMs,
            dataDir,
            port: spec.port ?? REDIS_PORT,
            preferredEndpointType: "ip",
            tls: spec.tls !== undefined,
        }) +
        renderNodeConf({
            bind: spec.host,
            bindSourceAddr: spec.host,
            announceHostname: spec.announceHostname,
            password: spec.password,
            tls: spec.tls,
        }) +
        [
            `pidfile ${path.join(dataDir, "redis.pid")}`,
            `logfile ${path.join(dataDir, "redis.log")}`,
            "daemonize no",
            ...(spec.extraConfig ?? []),
        ].join("\n") +
        "\n";
    const file = path.join(dataDir, "redis.conf");
    fs.writeFileSync(file, conf, { mode: 0o600 });
    return file;
}

/** One redis-server process. */
export class LocalRedisNode {
    private constructor(
        public readonly spec: LocalNodeSpec,
        public readonly pid: number,
    ) {}

    get host(): string {
        return this.spec.host;
    }
    get port(): number {
        return this.spec.port ?? REDIS_PORT;
    }
    get address(): string {
        return `${this.host}:${this.port}`;
    }

    /** Starts redis-server for `spec` and resolves once it answers (with auth) as the process just started. */
    static async start(spec: LocalNodeSpec, timeoutMs = 10_000): Promise<LocalRedisNode> {
        const bin = redisServerBinary();
        const confFile = writeNodeConfig(spec);
        const child = spawn(bin, [confFile], { detached: true, stdio: "ignore" });
        child.unref();
        if (child.pid === undefined) throw new Error(`redis-server for ${spec.host} did not start`);
        const node = new LocalRedisNode(spec, child.pid);
        try {
            await node.waitUntilAnswering(timeoutMs);
        } catch (e) {
            await terminate(node.pid, "SIGKILL", 1000, 25);
            throw e;
        }
        return node;
    }

    /**
     * Starts all `specs` at once. If any fails, the ones that did start are stopped before the
     * first error is thrown: a failed start leaves no process behind on its addresses.
     */
    static async startAll(specs: readonly LocalNodeSpec[], timeoutMs?: number): Promise<LocalRedisNode[]> {
        const started = await Promise.allSettled(specs.map((s) => LocalRedisNode.start(s, timeoutMs)));
        const nodes = started.filter((r): r is PromiseFulfilledResult<LocalRedisNode> => r.status === "fulfilled").map((r) => r.value);
        const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) {
            await Promise.all(nodes.map((n) => n.stop()));
            throw failed.reason;
        }
        return nodes;
    }

    /** Re-attaches to a node started earlier (e.g. by `npm run local -- up`) from its pidfile. */
    static attach(spec: LocalNodeSpec): LocalRedisNode | undefined {
        const pidFile = path.join(spec.dir, "redis.pid");
        if (!fs.existsSync(pidFile)) return undefined;
        const pid = Number(fs.readFileSync(pidFile, "utf8").trim());
        return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? new LocalRedisNode(spec, pid) : undefined;
    }

    isAlive(): boolean {
        return isAlive(this.pid);
    }

    /**
     * Waits until this node's own process answers an authenticated INFO. A server that answers
     * with another process id already held the address (a node left running by an earlier run):
     * ours cannot bind, and using the old one would silently hand out a stale cluster.
     */
    async waitUntilAnswering(timeoutMs: number): Promise<void> {
        const deadline = Date.now() + timeoutMs;
        let last = "";
        while (Date.now() < deadline) {
            // The password travels in the environment: `ps` shows a command line to every user.
            const r = spawnSync("redis-cli", [...redisCliArgs(this.host, this.port, this.spec.tls?.caFile), "INFO", "server"], {
                encoding: "utf8",
                timeout: 2000,
                env: { ...process.env, REDISCLI_AUTH: this.spec.password },
            });
            last = (r.stdout || r.stderr || "").trim();
            const answering = Number(/process_id:(\d+)/.exec(last)?.[1]);
            if (answering === this.pid) return;
            if (answering) {
                throw new Error(
                    `${this.address} is already served by another redis-server (pid ${answering}), so this one (pid ${this.pid}) cannot listen there. ` +
                        `Stop that process (\`kill ${answering}\`, or \`npm run local -- down --dir DIR\` if the local cluster started it) or use other addresses.`,
                );
            }
            if (!this.isAlive()) {
                throw new Error(
                    `redis-server ${this.address} exited during start; see ${path.join(this.spec.dir, "redis.log")}:\n${this.logTail()}`,
                );
            }
            await sleep(50);
        }
        throw new Error(
            `redis-server ${this.address} did not answer within ${timeoutMs} ms (last answer: ${last.split("\n")[0] || "none"})`,
        );
    }

    /** Last lines of the node's log, for error messages. */
    logTail(lines = 20): string {
        const log = path.join(this.spec.dir, "redis.log");
        if (!fs.existsSync(log)) return "";
        return fs.readFileSync(log, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    }

    /** Sends a signal and waits for the process to exit. SIGTERM is a clean shutdown (AOF flushed). */
    async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 10_000): Promise<void> {
        if (!(await terminate(this.pid, signal, timeoutMs, 25)))
            throw new Error(`redis-server ${this.address} (pid ${this.pid}) would not exit`);
    }

    /** SIGKILL: the abrupt loss of a node, as when a Kubernetes node dies. */
    kill(): Promise<void> {
        return this.stop("SIGKILL");
    }
}

/**
 * Loopback addresses for `count` nodes in block `block`: 127.0.<block>.11, .12, …
 * Tests and benchmarks each use their own block so they never collide.
 */
export function loopbackAddresses(block: number, count: number, first = 11): string[] {
    if (!Number.isInteger(block) || block < 0 || block > 255) throw new Error(`block: expected an integer 0-255, got ${block}`);
    if (first + count - 1 > 254) throw new Error(`count: at most ${254 - first + 1} nodes fit in one loopback block, got ${count}`);
    return Array.from({ length: count }, (_, i) => `127.0.${block}.${first + i}`);
}
