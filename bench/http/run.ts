/**
 * `npm run bench:http [-- --duration 10 --connections 50 --rounds 1 --fast-first]`
 *
 * The hit counter vs a faithful Python 3 port of the tutorial's Flask app, against the
 * same local 6-node cluster, each driven by autocannon (its own process) with the same
 * connections and duration, one after the other in one run. Ours runs as it ships: the
 * esbuild bundle under plain node. Modes: durable (WAIT 1, the default) and fast
 * (WAIT_REPLICAS=0, no replica confirmation). A second cluster, identical but with TLS on every
 * link (as the stack ships it on Kubernetes), serves a durable row of its own: what TLS costs,
 * measured in the same run as plain.
 *
 * A floor row runs a bare Node http server answering the same sentence from memory
 * (floor_server.js, no Redis) under the same load: no Node service can beat its p99 on
 * this machine. Each row also reports the CPU cores used during it by the server, the
 * Redis nodes, autocannon and every other process on the machine, because on a shared
 * 2-core machine the tail is decided by who else is runnable. With --rounds N the
 * Node rows are measured N times interleaved and the medians are reported.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { bundleServer } from "../../components/app/bundle";
import { DEFAULT_NODE_TIMEOUT_MS } from "../../components/redisDefaults";
import { LocalCluster, startLocalCluster } from "../../local/cluster";
import { becomesOk } from "../../lib/http";
import { median } from "../../lib/stats";
import { setTimeout as sleep } from "timers/promises";
import { BENCH_BLOCKS } from "../blocks";

const PYTHON = "/usr/bin/python3";
const FLASK_APP = path.join(__dirname, "flask_app.py");
const FLOOR_SERVER = path.join(__dirname, "floor_server.js");
const AUTOCANNON = require.resolve("autocannon/autocannon.js");
const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ of /proc on Linux
/** The plain cluster's loopback block, and the TLS cluster's. */
const [BLOCK] = BENCH_BLOCKS.http;
const [TLS_BLOCK] = BENCH_BLOCKS.httpTls;

interface Measured {
    readonly name: string;
    readonly reqPerSec: number;
    readonly p50: number;
    readonly p99: number;
    readonly errors: number;
    readonly non2xx: number;
    readonly total: number;
    readonly cpu: CpuShare;
}

/** CPU cores (1 = one core busy for the whole run) used while autocannon ran. */
interface CpuShare {
    readonly server: number;
    readonly redis: number;
    readonly autocannon: number;
    readonly others: number;
}

interface AutocannonJson {
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    latency: { p50: number; p99: number };
    requests: { total: number };
}

function arg(name: string, fallback: number): number {
    const i = process.argv.indexOf(`--${name}`);
    const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number, got ${process.argv[i + 1]}`);
    return v;
}

async function waitFor200(url: string, timeoutMs: number): Promise<void> {
    if (!(await becomesOk(url, { timeoutMs }))) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

/** Busy clock ticks of the whole machine (every CPU), from /proc/stat. */
function machineBusyTicks(): number {
    const [user, nice, system, , , irq, softirq, steal] = fs
        .readFileSync("/proc/stat", "utf8")
        .split("\n")[0]
        .trim()
        .split(/\s+/)
        .slice(1)
        .map(Number);
    return user + nice + system + irq + softirq + steal;
}

/** user+system ticks of one process (field 14/15 of /proc/PID/stat); children waited for count in 16/17. */
function processTicks(pid: number | "self", withReapedChildren = false): number {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        const f = stat
            .slice(stat.lastIndexOf(")") + 2)
            .split(" ")
            .map(Number);
        return f[11] + f[12] + (withReapedChildren ? f[13] + f[14] : 0);
    } catch {
        return 0; // exited meanwhile
    }
}

/** Ticks of every process in a process group (a server and, e.g., Flask's reloader child). */
function groupTicks(pgid: number): number {
    let total = 0;
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            if (Number(f[2]) === pgid) total += Number(f[11]) + Number(f[12]);
        } catch {
            // exited meanwhile
        }
    }
    return total;
}

function autocannon(url: string, connections: number, seconds: number): Promise<AutocannonJson> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [AUTOCANNON, "--json", "-c", String(connections), "-d", String(seconds), url], {
            stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (c) => (out += c));
        child.stderr.on("data", (c) => (err += c));
        child.on("exit", (code) => {
            if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err}`));
            resolve(JSON.parse(out) as AutocannonJson);
        });
    });
}

interface Target {
    readonly name: string;
    readonly url: string;
    /** The Redis processes this target's server talks to (their CPU is counted as Redis'). */
    readonly redisPids: readonly number[];
    /** The hit counter's operators' listener (/metrics). */
    readonly metricsUrl?: string;
    /** Process group of the server (its CPU is counted as the server's). */
    readonly pgid: number;
}

async function measureOnce(target: Target, connections: number, seconds: number): Promise<Measured> {
    const redisPids = target.redisPids;
    const ticks = () => ({
        machine: machineBusyTicks(),
        // autocannon is our child: once waited for, its CPU is in our children's ticks.
        autocannon: processTicks("self", true) - processTicks("self"),
        server: groupTicks(target.pgid),
        redis: redisPids.reduce((sum, pid) => sum + processTicks(pid), 0),
    });
    const before = ticks();
    const r = await autocannon(target.url, connections, seconds);
    const after = ticks();
    const cores = (k: keyof typeof before) => (after[k] - before[k]) / CLOCK_TICKS_PER_SECOND / r.duration;
    const cpu = { server: cores("server"), redis: cores("redis"), autocannon: cores("autocannon"), others: 0 };
    cpu.others = Math.max(0, cores("machine") - cpu.server - cpu.redis - cpu.autocannon);
    const m = {
        name: target.name,
        reqPerSec: r.requests.total / r.duration,
        p50: r.latency.p50,
        p99: r.latency.p99,
        errors: r.errors + r.timeouts,
        non2xx: r.non2xx,
        total: r.requests.total,
        cpu,
    };
    console.log(
        `  ${m.name}: ${m.reqPerSec.toFixed(0)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, errors ${m.errors}, non-2xx ${m.non2xx}; ` +
            `CPU cores: server ${cpu.server.toFixed(2)}, redis ${cpu.redis.toFixed(2)}, autocannon ${cpu.autocannon.toFixed(2)}, other processes ${cpu.others.toFixed(2)}`,
    );
    return m;
}

async function warmUp(target: Target, connections: number, seconds: number): Promise<void> {
    await autocannon(target.url, connections, Math.min(3, seconds)); // JIT, connection pools; not counted
}

/** One row from several interleaved runs of the same target: the median of each figure. */
function medianOf(runs: readonly Measured[]): Measured {
    const of = (f: (m: Measured) => number) => median(runs.map(f));
    return {
        name: runs[0].name,
        reqPerSec: of((m) => m.reqPerSec),
        p50: of((m) => m.p50),
        p99: of((m) => m.p99),
        errors: runs.reduce((s, m) => s + m.errors, 0),
        non2xx: runs.reduce((s, m) => s + m.non2xx, 0),
        total: runs.reduce((s, m) => s + m.total, 0),
        cpu: {
            server: of((m) => m.cpu.server),
            redis: of((m) => m.cpu.redis),
            autocannon: of((m) => m.cpu.autocannon),
            others: of((m) => m.cpu.others),
        },
    };
}

/** Starts a server process in its own process group; resolves with its URL once it answers 200 on `probePath`. */
async function startProcess(
    cmd: string,
    args: string[],
    env: NodeJS.ProcessEnv,
    cwd: string,
    url: string,
    probePath: string,
    logFile: string,
): Promise<ChildProcess> {
    const log = fs.openSync(logFile, "w");
    const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", log, log] });
    fs.closeSync(log);
    await waitFor200(url + probePath, 20_000).catch((e: Error) => {
        throw new Error(`${e.message}\n${fs.readFileSync(logFile, "utf8")}`);
    });
    return child;
}

function killGroup(child: ChildProcess | undefined): Promise<void> {
    if (!child || child.pid === undefined || child.exitCode !== null) return Promise.resolve();
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    process.kill(-child.pid, "SIGTERM");
    return Promise.race([exited, sleep(5000).then(() => process.kill(-child.pid!, "SIGKILL"))]).then(() => undefined);
}

/** Mean batch size from the server's own histogram. */
async function meanBatch(url: string): Promise<string> {
    const text = await new Promise<string>((resolve, reject) => {
        http.get(`${url}/metrics`, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve(body));
        }).on("error", reject);
    });
    const sum = Number(/^hitcounter_redis_batch_hits_sum (\S+)$/m.exec(text)?.[1]);
    const count = Number(/^hitcounter_redis_batch_hits_count (\S+)$/m.exec(text)?.[1]);
    return count > 0 ? (sum / count).toFixed(1) : "n/a";
}

async function main(): Promise<void> {
    const seconds = arg("duration", 10);
    const connections = arg("connections", 50);
    const rounds = arg("rounds", 1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hitcounter-bench-http-"));
    const children: ChildProcess[] = [];
    let cluster: LocalCluster | undefined;
    let tlsCluster: LocalCluster | undefined;
    try {
        console.log(
            `HTTP benchmark ${new Date().toISOString()}: ${connections} connections, ${seconds} s each, ${rounds} round(s), ${os.cpus().length} CPUs, autocannon in its own process`,
        );
        cluster = await startLocalCluster({
            masters: 3,
            replicasPerMaster: 1,
            dir: path.join(dir, "cluster"),
            block: BLOCK,
            nodeTimeoutMs: DEFAULT_NODE_TIMEOUT_MS,
        });
        tlsCluster = await startLocalCluster({
            masters: 3,
            replicasPerMaster: 1,
            dir: path.join(dir, "tls-cluster"),
            block: TLS_BLOCK,
            nodeTimeoutMs: DEFAULT_NODE_TIMEOUT_MS,
            tls: true,
        });
        const redisPids = cluster.nodes.map((n) => n.pid);
        const seeds = cluster.seeds.join(",");
        const baseEnv = { PATH: process.env.PATH, REDIS_NODES: seeds, REDIS_PASSWORD: cluster.password, HOST: "127.0.0.1" };
        const tlsEnv = {
            REDIS_NODES: tlsCluster.seeds.join(","),
            REDIS_PASSWORD: tlsCluster.password,
            REDIS_TLS: "true",
            REDIS_CA_FILE: tlsCluster.caFile,
        };
        const start = async (
            name: string,
            cmd: string,
            args: string[],
            env: NodeJS.ProcessEnv,
            port: number,
            probePath: string,
            log: string,
        ): Promise<Target> => {
            const url = `http://127.0.0.1:${port}`;
            const child = await startProcess(
                cmd,
                args,
                { ...baseEnv, ...env, PORT: String(port) },
                dir,
                url,
                probePath,
                path.join(dir, log),
            );
            children.push(child);
            return { name, url: `${url}/`, pgid: child.pid!, redisPids: env.REDIS_TLS === "true" ? tlsPids : redisPids };
        };
        const tlsPids = tlsCluster.nodes.map((n) => n.pid);

        const flask = await start("tutorial Flask app (dev server, debug=True)", PYTHON, [FLASK_APP], {}, 15_800, "/", "flask.log");
        await warmUp(flask, connections, seconds);
        const anchor = await measureOnce(flask, connections, seconds);
        await killGroup(children.pop());

        const bundle = path.join(dir, "server.js");
        fs.writeFileSync(bundle, bundleServer());
        const durableName = "hit counter, durable (WAIT 1)";
        const tlsName = "hit counter, durable (WAIT 1), TLS on every link";
        const modes: Record<string, [string, NodeJS.ProcessEnv]> = {
            durable: [durableName, { WAIT_REPLICAS: "1" }],
            tls: [tlsName, { WAIT_REPLICAS: "1", ...tlsEnv }],
            fast: ["hit counter, fast (WAIT_REPLICAS=0)", { WAIT_REPLICAS: "0" }],
        };
        const order = process.argv.includes("--fast-first") ? ["fast", "durable", "tls"] : ["durable", "tls", "fast"];
        // Every server stays up for the whole run (idle ones cost no CPU) so rounds interleave them.
        const targets: Target[] = [
            await start("floor: bare Node http, no Redis", process.execPath, [FLOOR_SERVER], {}, 15_809, "/", "floor.log"),
        ];
        for (const [i, key] of order.entries()) {
            const [name, env] = modes[key];
            const metricsPort = 15_820 + i;
            const target = await start(
                name,
                process.execPath,
                [bundle],
                { ...env, METRICS_PORT: String(metricsPort) },
                15_810 + i,
                "/readyz",
                `server-${key}.log`,
            );
            targets.push({ ...target, metricsUrl: `http://127.0.0.1:${metricsPort}` });
        }
        for (const t of targets) await warmUp(t, connections, seconds);
        const runs = new Map<string, Measured[]>(targets.map((t) => [t.name, []]));
        for (let round = 1; round <= rounds; round++) {
            if (rounds > 1) console.log(`round ${round}/${rounds}`);
            for (const t of targets) runs.get(t.name)!.push(await measureOnce(t, connections, seconds));
        }
        for (const t of targets.slice(1))
            console.log(
                `    ${t.name}: mean hits per Redis round trip (group commit) ${await meanBatch(t.metricsUrl ?? t.url.slice(0, -1))}`,
            );
        const rows = targets.map((t) => medianOf(runs.get(t.name)!));
        const floor = rows[0];
        const durable = rows.find((r) => r.name === durableName)!;
        const withTls = rows.find((r) => r.name === tlsName)!;

        console.log(`\n| app | req/s | p50 ms | p99 ms | errors | non-2xx | req/s vs Flask | other processes' CPU (cores) |`);
        console.log(`|---|---|---|---|---|---|---|---|`);
        for (const m of [anchor, floor, durable, withTls, ...rows.filter((r) => r !== floor && r !== durable && r !== withTls)]) {
            console.log(
                `| ${m.name} | ${m.reqPerSec.toFixed(0)} | ${m.p50} | ${m.p99} | ${m.errors} | ${m.non2xx} | ${(m.reqPerSec / anchor.reqPerSec).toFixed(1)}x | ${m.cpu.others.toFixed(2)} |`,
            );
        }
        if (rounds > 1)
            console.log(
                `(Node rows: medians of ${rounds} interleaved rounds; p99 per round: ${rows
                    .map(
                        (r) =>
                            `${r.name} ${runs
                                .get(r.name)!
                                .map((m) => m.p99)
                                .join("/")}`,
                    )
                    .join("; ")})`,
            );
        console.log(
            `\nTLS on every link vs plain, durable, same run: req/s ${(withTls.reqPerSec / durable.reqPerSec).toFixed(2)}x, ` +
                `p50 ${withTls.p50} vs ${durable.p50} ms, p99 ${withTls.p99} vs ${durable.p99} ms; ` +
                `Redis CPU ${withTls.cpu.redis.toFixed(2)} vs ${durable.cpu.redis.toFixed(2)} cores, server CPU ${withTls.cpu.server.toFixed(2)} vs ${durable.cpu.server.toFixed(2)} cores`,
        );
        console.log(
            `\ngoal (durable mode): >= 10x Flask req/s: ${durable.reqPerSec / anchor.reqPerSec >= 10 ? "met" : "NOT met"}; ` +
                `p99 <= 5 ms: ${durable.p99 <= 5 ? "met" : `NOT met (${durable.p99} ms; the Redis-less floor's p99 in the same run: ${floor.p99} ms)`}`,
        );
    } finally {
        for (const c of children) await killGroup(c);
        await cluster?.stop();
        await tlsCluster?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
});
