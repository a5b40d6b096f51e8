/**
 * Formation benchmark: time until "formed" (all 16384 slots covered, every node agrees
 * on nodes/roles/slots, every replica's master_link_status:up) for this project's engine
 * vs `redis-cli --cluster create --cluster-yes` followed by waiting for the same condition.
 * A second column reports, for both, the time until every node also says
 * cluster_state:ok, which Redis itself holds back on masters for up to
 * cluster-node-timeout after they join the majority (the same floor for both engines).
 * A third measurement, "mesh alone", forms the same nodes as masters only (no replicas,
 * no initial syncs): what Redis's own handshakes between that many nodes cost on this
 * machine, a floor that no engine forming by CLUSTER MEET gets under.
 * A second table gives the CPU time spent until formed and the wall time it implies at
 * the least on this machine's cores (all nodes share them here; on Kubernetes each pod
 * has its own).
 *
 * Same run, side by side, fresh and identically configured redis-server processes for
 * every attempt (loopback block 127.0.40-49.x), the order rotating every run. Prints a
 * table with medians and the ratios to redis-cli.
 *
 *   npm run bench:formation [-- --sizes 3,10,30 --runs 3 --node-timeout-ms 1000 --verbose]
 * (--node-timeout-ms defaults to the shipped DEFAULT_NODE_TIMEOUT_MS)
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULT_NODE_TIMEOUT_MS } from "../../components/redisDefaults";
import { FormNode, form } from "../../components/formation/form";
import { waitUntilFormed, waitUntilUsable as waitUntilClusterOk } from "../../components/formation/observe";
import { DirectTransport } from "../../components/formation/transport";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";

const PASSWORD = "bench-formation";
/**
 * Redis keeps a freshly started master's cluster_state at "fail" for its first 2 s
 * (CLUSTER_WRITABLE_DELAY). On Kubernetes the pods have been up for much longer when
 * formation starts, so each attempt waits this long after start before the clock runs.
 */
const POLL_MS = 20;
const SETTLE_MS = 2500;
const FORMED_TIMEOUT_MS = 120_000;

type Engine = "ours" | "redis-cli" | "mesh alone";
const ENGINES: readonly Engine[] = ["ours", "redis-cli", "mesh alone"];

interface Flags {
    readonly sizes: number[];
    readonly runs: number;
    readonly verbose: boolean;
    /** cluster-node-timeout of every node, both engines alike; the shipped default unless given. */
    readonly nodeTimeoutMs: number;
}

function parseFlags(argv: readonly string[]): Flags {
    let sizes = [3, 10, 30];
    let runs = 3;
    let nodeTimeoutMs = DEFAULT_NODE_TIMEOUT_MS;
    let verbose = false;
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        if (flag === "--verbose") {
            verbose = true;
            continue;
        }
        const value = argv[++i];
        if (flag === "--sizes" && value && /^\d+(,\d+)*$/.test(value)) sizes = value.split(",").map(Number);
        else if (flag === "--runs" && value && /^[1-9]\d*$/.test(value)) runs = Number(value);
        else if (flag === "--node-timeout-ms" && value && /^\d+$/.test(value) && Number(value) >= 100) nodeTimeoutMs = Number(value);
        else
            throw new Error(
                `unknown flag or bad value: ${flag} ${value ?? ""} (allowed: --sizes 3,10,30 --runs N --node-timeout-ms >=100 --verbose)`,
            );
    }
    if (sizes.some((s) => s < 3 || s > 100)) throw new Error("--sizes: each size (masters, 1 replica each) must be 3-100");
    return { sizes, runs, verbose, nodeTimeoutMs };
}

async function startNodes(block: number, count: number, nodeTimeoutMs: number): Promise<{ nodes: LocalRedisNode[]; dir: string }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-formation-"));
    const specs = loopbackAddresses(block, count).map((host, i) => ({
        host,
        dir: path.join(dir, `n${i}`),
        password: PASSWORD,
        nodeTimeoutMs,
        announceHostname: `redis-${i}.local`,
    }));
    try {
        return { nodes: await LocalRedisNode.startAll(specs, 120_000), dir };
    } catch (e) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw e;
    }
}

function redisCliCreate(addresses: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
        const child = spawn("redis-cli", ["--cluster", "create", ...addresses, "--cluster-replicas", "1", "--cluster-yes"], {
            env: { ...process.env, REDISCLI_AUTH: PASSWORD },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (out += d.toString()));
        child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli --cluster create exited ${code}:\n${out}`))));
    });
}

interface Timing {
    /** ms to "formed" */
    readonly formed: number;
    /** ms until every node also reports cluster_state:ok */
    readonly ok: number;
    /** CPU ms spent until "formed" by the redis-server processes (with their reaped fork children) and this engine's process. */
    readonly cpu: number;
}

/** Clock ticks per second of /proc/PID/stat's CPU fields. */
const CLOCK_TICKS_PER_SECOND = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** CPU ms used so far by these processes and their reaped children (utime+stime+cutime+cstime, Linux /proc). */
function processCpuMs(pids: readonly number[]): number {
    let ticks = 0;
    for (const pid of pids) {
        const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
        ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    }
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

const ownCpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
};

async function attempt(engine: Engine, masters: number, block: number, flags: Flags): Promise<Timing> {
    const { verbose } = flags;
    const { nodes, dir } = await startNodes(block, masters * 2, flags.nodeTimeoutMs);
    const transport = new DirectTransport(PASSWORD);
    try {
        await new Promise((r) => setTimeout(r, SETTLE_MS));
        const formNodes: FormNode[] = nodes.map((n) => ({ address: n.address, target: n.address }));
        const pids = nodes.map((n) => n.pid);
        const cpu0 = processCpuMs(pids) + ownCpuMs();
        const t0 = process.hrtime.bigint();
        const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e6;
        const log = verbose ? (l: string) => process.stderr.write(`  ${elapsed().toFixed(0)} ms ${l}\n`) : undefined;
        if (engine === "ours") {
            await form({
                nodes: formNodes,
                masters,
                replicasPerMaster: 1,
                transport,
                timeoutMs: FORMED_TIMEOUT_MS,
                pollMs: POLL_MS,
                waitForClusterOk: false,
                log,
            });
        } else if (engine === "mesh alone") {
            await form({
                nodes: formNodes,
                masters: formNodes.length,
                replicasPerMaster: 0,
                transport,
                timeoutMs: FORMED_TIMEOUT_MS,
                pollMs: POLL_MS,
                waitForClusterOk: false,
                log,
            });
        } else {
            await redisCliCreate(nodes.map((n) => n.address));
            // Same condition and the same polling as our engine uses.
            await waitUntilFormed({ nodes: formNodes, transport, timeoutMs: FORMED_TIMEOUT_MS, pollMs: POLL_MS });
        }
        const formed = elapsed();
        // redis-cli's own CPU is not counted (it has exited); for the other two this includes the engine.
        const cpu = processCpuMs(pids) + ownCpuMs() - cpu0;
        await waitUntilClusterOk({ nodes: formNodes, transport, timeoutMs: FORMED_TIMEOUT_MS, pollMs: POLL_MS });
        return { formed, ok: elapsed(), cpu };
    } finally {
        await transport.close();
        await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

function redisVersion(): string {
    const out = spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout;
    return /v=(\S+)/.exec(out)?.[1] ?? "unknown";
}

const median = (xs: readonly number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
    const flags = parseFlags(process.argv.slice(2));
    const { sizes, runs } = flags;
    // Load the client library once, outside the timed region (redis-cli is a ready binary).
    await import("ioredis");
    const rows: { size: number; times: Map<Engine, Timing[]> }[] = [];
    let block = 40;
    for (const masters of sizes) {
        const row = { size: masters, times: new Map<Engine, Timing[]>(ENGINES.map((e) => [e, []])) };
        for (let r = 0; r < runs; r++) {
            // Rotate which engine goes first, and give each attempt its own fresh addresses.
            const order = ENGINES.map((_, i) => ENGINES[(i + r) % ENGINES.length]);
            for (const engine of order) {
                const t = await attempt(engine, masters, block, flags);
                block = block === 49 ? 40 : block + 1;
                row.times.get(engine)!.push(t);
                process.stderr.write(
                    `${masters}x1 run ${r + 1} ${engine}: formed ${t.formed.toFixed(0)} ms (CPU ${t.cpu.toFixed(0)} ms), cluster_state:ok ${t.ok.toFixed(0)} ms\n`,
                );
            }
        }
        rows.push(row);
    }
    const date = new Date().toISOString().slice(0, 10);
    console.log(
        `\nFormation benchmark (${date}, ${os.cpus().length} CPUs, redis-server ${redisVersion()}, cluster-node-timeout ${flags.nodeTimeoutMs} ms, median of ${runs})`,
    );
    console.log(
        '"formed" = all slots covered, all nodes agree, all replica links up; "state ok" = additionally cluster_state:ok on every node;',
    );
    console.log('"mesh alone" = the same nodes formed as masters only (no replicas, no syncs): the cost of the handshakes themselves');
    console.log(
        "| size | formed: this engine | formed: redis-cli create + wait | ratio | state ok: this engine | state ok: redis-cli | ratio | mesh alone | mesh alone / redis-cli |",
    );
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (const r of rows) {
        const med = (engine: Engine, pick: (t: Timing) => number) => median(r.times.get(engine)!.map(pick));
        const cols = (pick: (t: Timing) => number) => {
            const ours = med("ours", pick);
            const cli = med("redis-cli", pick);
            return `${ours.toFixed(0)} ms | ${cli.toFixed(0)} ms | ${(ours / cli).toFixed(2)}`;
        };
        const mesh = med("mesh alone", (t) => t.formed);
        const meshRatio = (mesh / med("redis-cli", (t) => t.formed)).toFixed(2);
        console.log(
            `| ${r.size}x1 (${r.size * 2} nodes) | ${cols((t) => t.formed)} | ${cols((t) => t.ok)} | ${mesh.toFixed(0)} ms | ${meshRatio} |`,
        );
    }
    // Work that has to run on the machine's cores cannot finish faster than CPU time / cores:
    // where that bound alone exceeds 1/3 of redis-cli's time, the goal is out of reach here.
    const cores = os.cpus().length;
    console.log(
        `\nCPU until formed (redis-server processes with their fork children, plus the engine's process; redis-cli's own not counted) and the`,
    );
    console.log(`wall-time bound it implies on ${cores} cores (CPU / ${cores}), as a share of redis-cli's formed time:`);
    console.log(`| size | CPU: this engine | bound / redis-cli | CPU: mesh alone | bound / redis-cli | CPU: redis-cli (servers only) |`);
    console.log("|---|---|---|---|---|---|");
    for (const r of rows) {
        const med = (engine: Engine, pick: (t: Timing) => number) => median(r.times.get(engine)!.map(pick));
        const cli = med("redis-cli", (t) => t.formed);
        const cpuCols = (engine: Engine) => {
            const cpu = med(engine, (t) => t.cpu);
            return `${cpu.toFixed(0)} ms | ${(cpu / cores / cli).toFixed(2)}`;
        };
        console.log(`| ${r.size}x1 | ${cpuCols("ours")} | ${cpuCols("mesh alone")} | ${med("redis-cli", (t) => t.cpu).toFixed(0)} ms |`);
    }
}

main().catch((e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
});
