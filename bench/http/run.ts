/**
 * `npm run bench:http [-- --duration 10 --connections 50 --fast-first]`
 *
 * The hit counter vs a faithful Python 3 port of the tutorial's Flask app, against the
 * same local 6-node cluster, each driven by autocannon (its own process) with the same
 * connections and duration, one after the other in one run. Ours runs as it ships: the
 * esbuild bundle under plain node. Modes: durable (WAIT 1, the default) and fast
 * (WAIT_REPLICAS=0, no replica confirmation).
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { bundleServer } from "../../components/app/bundle";
import { DEFAULT_NODE_TIMEOUT_MS } from "../../components/config";
import { LocalCluster, startLocalCluster } from "../../local/cluster";
import { statusOf } from "../failover/load";

const PYTHON = "/usr/bin/python3";
const FLASK_APP = path.join(__dirname, "flask_app.py");
const AUTOCANNON = require.resolve("autocannon/autocannon.js");

interface Measured {
    readonly name: string;
    readonly reqPerSec: number;
    readonly p50: number;
    readonly p99: number;
    readonly errors: number;
    readonly non2xx: number;
    readonly total: number;
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor200(url: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if ((await statusOf(url)) === 200) return;
        await sleep(100);
    }
    throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

function autocannon(url: string, connections: number, seconds: number): Promise<AutocannonJson> {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [AUTOCANNON, "--json", "-c", String(connections), "-d", String(seconds), url], { stdio: ["ignore", "pipe", "pipe"] });
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

async function measure(name: string, url: string, connections: number, seconds: number): Promise<Measured> {
    await autocannon(url, connections, Math.min(3, seconds)); // warm-up (JIT, connection pools), not counted
    const r = await autocannon(url, connections, seconds);
    const m = { name, reqPerSec: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, total: r.requests.total };
    console.log(`  ${name}: ${m.reqPerSec.toFixed(0)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, errors ${m.errors}, non-2xx ${m.non2xx}`);
    return m;
}

/** Starts a server process in its own process group; resolves with its URL once it answers 200 on `probePath`. */
async function startProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string, url: string, probePath: string, logFile: string): Promise<ChildProcess> {
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
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hitcounter-bench-http-"));
    const children: ChildProcess[] = [];
    let cluster: LocalCluster | undefined;
    try {
        console.log(`HTTP benchmark ${new Date().toISOString()}: ${connections} connections, ${seconds} s each, ${os.cpus().length} CPUs, autocannon in its own process`);
        cluster = await startLocalCluster({ masters: 3, replicasPerMaster: 1, dir: path.join(dir, "cluster"), block: 58, nodeTimeoutMs: DEFAULT_NODE_TIMEOUT_MS });
        const seeds = cluster.seeds.join(",");
        const baseEnv = { PATH: process.env.PATH, REDIS_NODES: seeds, REDIS_PASSWORD: cluster.password, HOST: "127.0.0.1" };

        const flaskPort = 15_800;
        const flaskUrl = `http://127.0.0.1:${flaskPort}`;
        const flask = await startProcess(PYTHON, [FLASK_APP], { ...baseEnv, PORT: String(flaskPort) }, dir, flaskUrl, "/", path.join(dir, "flask.log"));
        children.push(flask);
        const anchor = await measure("tutorial Flask app (dev server, debug=True)", `${flaskUrl}/`, connections, seconds);
        await killGroup(flask);

        const bundle = path.join(dir, "server.js");
        fs.writeFileSync(bundle, bundleServer());
        const allModes: Record<string, [string, NodeJS.ProcessEnv]> = {
            durable: ["hit counter, durable (WAIT 1)", { WAIT_REPLICAS: "1" }],
            fast: ["hit counter, fast (WAIT_REPLICAS=0)", { WAIT_REPLICAS: "0" }],
        };
        const order = (process.argv.includes("--fast-first") ? ["fast", "durable"] : ["durable", "fast"]).map((k) => allModes[k]);
        const ours: Measured[] = [];
        for (const [i, [name, env]] of order.entries()) {
            const port = 15_810 + i;
            const url = `http://127.0.0.1:${port}`;
            const server = await startProcess(process.execPath, [bundle], { ...baseEnv, ...env, PORT: String(port) }, dir, url, "/readyz", path.join(dir, `server-${i}.log`));
            children.push(server);
            ours.push(await measure(name, `${url}/`, connections, seconds));
            console.log(`    mean hits per Redis round trip (group commit): ${await meanBatch(url)}`);
            await killGroup(server);
        }
        ours.sort((a, b) => (a.name === allModes.durable[0] ? -1 : b.name === allModes.durable[0] ? 1 : 0));

        console.log(`\n| app | req/s | p50 ms | p99 ms | errors | non-2xx | req/s vs Flask |`);
        console.log(`|---|---|---|---|---|---|---|`);
        for (const m of [anchor, ...ours]) {
            console.log(`| ${m.name} | ${m.reqPerSec.toFixed(0)} | ${m.p50} | ${m.p99} | ${m.errors} | ${m.non2xx} | ${(m.reqPerSec / anchor.reqPerSec).toFixed(1)}x |`);
        }
        const durable = ours[0];
        console.log(
            `\ngoal (durable mode): >= 10x Flask req/s: ${durable.reqPerSec / anchor.reqPerSec >= 10 ? "met" : "NOT met"}; p99 <= 5 ms: ${durable.p99 <= 5 ? "met" : `NOT met (${durable.p99} ms)`}`,
        );
    } finally {
        for (const c of children) await killGroup(c);
        await cluster?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
});
