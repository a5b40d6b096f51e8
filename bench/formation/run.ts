/**
 * Formation benchmark: time until a fresh cluster is **usable** — every node says cluster_state:ok
 * and a write through a cluster client (ioredis Cluster) succeeds — for this project's engine and for
 * `redis-cli --cluster create --cluster-yes` (the anchor), on fresh, identically configured
 * redis-server processes, side by side in the same run, the order alternating every run.
 *
 *  - this engine: `form()` as shipped, which returns once formed (all slots covered, one view on every
 *    node, every replica link up) and usable; then the client's first write;
 *  - redis-cli: its create, then polling until every node says ok, then the client's first write.
 *
 * Also reported: the time until formed (for redis-cli, read by the same poll) and the CPU spent until
 * usable by the redis-server processes (with their fork children) and the engine's process.
 *
 *   npm run bench:formation [-- --sizes 3,10 --runs 5 --node-timeout-ms 1000 --verbose]
 * (--node-timeout-ms defaults to the shipped DEFAULT_NODE_TIMEOUT_MS; sizes are masters, 1 replica each)
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Cluster } from "ioredis";
import { DEFAULT_NODE_TIMEOUT_MS } from "../../components/redisDefaults";
import { BENCH_BLOCKS } from "../blocks";
import { podCount } from "../../components/shape";
import { formedPending, linkStatusOf, parseClusterNodes, usablePending } from "../../components/formation/clusterState";
import * as cmd from "../../components/formation/commands";
import { FormNode, form } from "../../components/formation/form";
import { readClusterStates } from "../../components/formation/observe";
import { DirectTransport } from "../../components/formation/transport";
import { waitFor } from "../../components/formation/wait";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";
import { median } from "../../lib/stats";

const PASSWORD = "bench-formation";
/** Same poll interval for both engines' waits. */
const POLL_MS = 20;
/**
 * Redis keeps a freshly started master's cluster_state at "fail" for its first 2 s
 * (CLUSTER_WRITABLE_DELAY). On Kubernetes the pods have been up for much longer when
 * formation starts, so each attempt waits this long after start before the clock runs.
 */
const SETTLE_MS = 2500;
const TIMEOUT_MS = 120_000;

type Engine = "this engine" | "redis-cli";
const ENGINES: readonly Engine[] = ["this engine", "redis-cli"];

interface Flags {
    readonly sizes: number[];
    readonly runs: number;
    readonly verbose: boolean;
    /** cluster-node-timeout of every node, both engines alike; the shipped default unless given. */
    readonly nodeTimeoutMs: number;
}

function parseFlags(argv: readonly string[]): Flags {
    let sizes = [3, 10];
    let runs = 5;
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
    /** ms until every node said cluster_state:ok and the client's first write succeeded. */
    readonly usable: number;
    /** ms until formed (all slots covered, same view everywhere, every replica link up). */
    readonly formed: number;
    /** ms until the engine returned (form() / redis-cli's exit). */
    readonly returned: number;
    /** CPU ms until usable: redis-server processes (with their reaped fork children) and this process. */
    readonly cpu: number;
}

/** Clock ticks per second of /proc/PID/stat's CPU fields. */
const CLOCK_TICKS_PER_SECOND = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** CPU ms used so far by these processes and their reaped children (utime+stime+cutime+cstime, Linux /proc), plus this process. */
function cpuMs(pids: readonly number[]): number {
    let ticks = 0;
    for (const pid of pids) {
        const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
        ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    }
    const own = process.cpuUsage();
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND + (own.user + own.system) / 1000;
}

/**
 * One write through a new cluster client, as an application starting now would do it; undefined when
 * it succeeded. The client retries quickly and gives up at once when it cannot load the slot map, so
 * the poll that calls this marks the moment closely instead of waiting out ioredis' back-off.
 */
async function firstWrite(nodes: readonly FormNode[]): Promise<string | undefined> {
    const { Cluster } = await import("ioredis");
    const client: Cluster = new Cluster(
        nodes.map((n) => ({ host: n.address.split(":")[0], port: Number(n.address.split(":")[1]) })),
        {
            redisOptions: { password: PASSWORD },
            clusterRetryStrategy: () => null,
            retryDelayOnClusterDown: 10,
            retryDelayOnFailover: 10,
            retryDelayOnTryAgain: 10,
            maxRedirections: 64,
        },
    );
    client.on("error", () => undefined);
    try {
        await client.set("bench:formation", "usable");
        return undefined;
    } catch (e) {
        return `write: ${(e as Error).message}`;
    } finally {
        client.disconnect();
    }
}

async function attempt(engine: Engine, masters: number, block: number, flags: Flags): Promise<Timing> {
    const { nodes, dir } = await startNodes(block, podCount({ masters, replicasPerMaster: 1 }), flags.nodeTimeoutMs);
    const transport = new DirectTransport(PASSWORD);
    const formNodes: FormNode[] = nodes.map((n) => ({ address: n.address, target: n.address }));
    try {
        await new Promise((r) => setTimeout(r, SETTLE_MS));
        const pids = nodes.map((n) => n.pid);
        const cpu0 = cpuMs(pids);
        const t0 = process.hrtime.bigint();
        const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e6;
        const run = engine === "this engine" ? ourEngine : redisCli;
        const timing = await run({ masters, formNodes, transport, elapsed, verbose: flags.verbose });
        return { ...timing, cpu: cpuMs(pids) - cpu0 };
    } finally {
        await transport.close();
        await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

interface Attempt {
    readonly masters: number;
    readonly formNodes: readonly FormNode[];
    readonly transport: DirectTransport;
    readonly elapsed: () => number;
    readonly verbose: boolean;
}

/** form() as shipped (it waits until formed and usable), then the client's first write. */
async function ourEngine(a: Attempt): Promise<Omit<Timing, "cpu">> {
    let formed = NaN;
    const log = (line: string) => {
        if (line.startsWith("formed: ")) formed = a.elapsed();
        if (a.verbose) process.stderr.write(`  ${a.elapsed().toFixed(0)} ms ${line}\n`);
    };
    await form({
        nodes: a.formNodes,
        masters: a.masters,
        replicasPerMaster: 1,
        transport: a.transport,
        timeoutMs: TIMEOUT_MS,
        pollMs: POLL_MS,
        log,
    });
    const returned = a.elapsed();
    await waitFor("the first write", () => firstWrite(a.formNodes), { timeoutMs: TIMEOUT_MS, pollMs: POLL_MS });
    return { usable: a.elapsed(), formed, returned };
}

/** redis-cli's create, then one poll for both conditions: usable (every node ok, then the first write) and formed. */
async function redisCli(a: Attempt): Promise<Omit<Timing, "cpu">> {
    await redisCliCreate(a.formNodes.map((n) => n.address));
    const returned = a.elapsed();
    let usable = NaN;
    let formed = NaN;
    await waitFor(
        "redis-cli's cluster to be usable and formed",
        async () => {
            if (Number.isNaN(usable) && usablePending(await readClusterStates(a.transport, a.formNodes)) === undefined) {
                if ((await firstWrite(a.formNodes)) === undefined) usable = a.elapsed();
            }
            if (Number.isNaN(formed) && (await formedNow(a)) === undefined) formed = a.elapsed();
            return Number.isNaN(usable) || Number.isNaN(formed) ? "not yet" : undefined;
        },
        { timeoutMs: TIMEOUT_MS, pollMs: POLL_MS },
    );
    return { usable, formed, returned };
}

/** The engine's own "formed" check over the attempt's nodes, once. */
async function formedNow(a: Attempt): Promise<string | undefined> {
    const reports = await Promise.all(
        a.formNodes.map(async (n) => {
            const entries = parseClusterNodes(await cmd.send(a.transport, n, cmd.clusterNodes()));
            const replica = entries.find((e) => e.flags.includes("myself"))?.masterId;
            return { n, entries, link: replica ? linkStatusOf(await cmd.send(a.transport, n, cmd.infoReplication())) : "n/a" };
        }),
    );
    return formedPending(reports, a.formNodes.length, () => undefined);
}

function redisVersion(): string {
    const out = spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout;
    return /v=(\S+)/.exec(out)?.[1] ?? "unknown";
}

interface Row {
    readonly size: number;
    readonly times: Map<Engine, Timing[]>;
}

async function measure(flags: Flags): Promise<Row[]> {
    const rows: Row[] = [];
    const blocks = BENCH_BLOCKS.formation;
    let next = 0;
    for (const masters of flags.sizes) {
        const row = { size: masters, times: new Map<Engine, Timing[]>(ENGINES.map((e) => [e, []])) };
        for (let r = 0; r < flags.runs; r++) {
            // Alternate which engine goes first, and give each attempt its own fresh addresses.
            for (const engine of r % 2 ? [...ENGINES].reverse() : ENGINES) {
                const t = await attempt(engine, masters, blocks[next++ % blocks.length], flags);
                row.times.get(engine)!.push(t);
                process.stderr.write(
                    `${masters}x1 run ${r + 1} ${engine}: usable ${t.usable.toFixed(0)} ms, formed ${t.formed.toFixed(0)} ms, returned ${t.returned.toFixed(0)} ms (CPU ${t.cpu.toFixed(0)} ms)\n`,
                );
            }
        }
        rows.push(row);
    }
    return rows;
}

function report(flags: Flags, rows: readonly Row[]): void {
    const ms = (x: number) => `${x.toFixed(0)} ms`;
    console.log(
        `\nFormation benchmark (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} CPUs, redis-server ${redisVersion()}, cluster-node-timeout ${flags.nodeTimeoutMs} ms, ${flags.runs} runs each)`,
    );
    console.log(
        '"usable" = every node says cluster_state:ok and a write through ioredis Cluster succeeded; "formed" adds every replica link up',
    );
    console.log(
        "| size | usable: this engine, median (worst) | usable: redis-cli, median (best-worst) | ratio of medians | worst ratio in a run | formed: this engine / redis-cli, medians | CPU until usable: this engine / redis-cli |",
    );
    console.log("|---|---|---|---|---|---|---|");
    for (const r of rows) {
        const ours = r.times.get("this engine")!;
        const cli = r.times.get("redis-cli")!;
        const usable = (ts: readonly Timing[]) => ts.map((t) => t.usable);
        const worstRatio = Math.max(...ours.map((t, i) => t.usable / cli[i].usable));
        console.log(
            `| ${r.size}x1 (${podCount({ masters: r.size, replicasPerMaster: 1 })} nodes) | ${ms(median(usable(ours)))} (${ms(Math.max(...usable(ours)))}) | ` +
                `${ms(median(usable(cli)))} (${Math.min(...usable(cli)).toFixed(0)}-${ms(Math.max(...usable(cli)))}) | ` +
                `**${(median(usable(ours)) / median(usable(cli))).toFixed(2)}** | ${worstRatio.toFixed(2)} | ` +
                `${ms(median(ours.map((t) => t.formed)))} / ${ms(median(cli.map((t) => t.formed)))} | ` +
                `${ms(median(ours.map((t) => t.cpu)))} / ${ms(median(cli.map((t) => t.cpu)))} |`,
        );
    }
}

async function main(): Promise<void> {
    const flags = parseFlags(process.argv.slice(2));
    // Load the client library once, outside the timed region (redis-cli is a ready binary).
    await import("ioredis");
    report(flags, await measure(flags));
}

main().catch((e: Error) => {
    console.error(e.stack ?? e.message);
    process.exit(1);
});
