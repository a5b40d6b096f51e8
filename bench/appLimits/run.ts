/**
 * `npm run bench:app-limits [-- --slow 12000 --hold 15 --pipelined 30000 --stall 8 --before-bundle FILE]`
 *
 * What the hit counter's limits (app/config.ts SERVER_LIMITS) buy in memory and in what a client
 * feels, against a real local 3x1 cluster (its loopback block in bench/blocks.ts). The server runs as it ships: the
 * esbuild bundle under plain node, one fresh process per scenario, so its peak RSS (VmHWM) is the
 * scenario's. Two scenarios, from issue 12:
 *
 * - slow clients: `--slow` connections each send a partial request head, then one more header line
 *   every 2 s (slowloris), for `--hold` seconds; a probe client meanwhile sends `GET /` on a new
 *   connection every 250 ms;
 * - Redis stalled: every master is SIGSTOPped for `--stall` seconds while one connection pipelines
 *   `--pipelined` `GET /`, then again while the most that the default limits let clients hold is
 *   held: MAX_CONNECTIONS connections (but 16, for the probe) with MAX_PIPELINED_REQUESTS hits each
 *   (this fills the hit queue); a probe client meanwhile sends `GET /` on a new connection every
 *   100 ms (its answers' latency is what a user feels meanwhile).
 *
 * Each scenario runs against the default limits and, as the anchor in the same run, against the
 * same bundle with every limit at its maximum (what the server did before it had limits). With
 * `--before-bundle FILE` a third row runs that bundle (e.g. one built from an older commit).
 * Everything is on loopback and bounded in connections and time; it stops by itself.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { setTimeout as sleep } from "timers/promises";
import { SERVER_LIMITS } from "../../app/config";
import { bundleServer } from "../../components/app/bundle";
import { quantityBytes } from "../../components/configKeys";
import { APP_MEMORY_LIMIT } from "../../components/app/hitCounter";
import { LocalCluster, startLocalCluster } from "../../local/cluster";
import { BENCH_BLOCKS } from "../blocks";

const [BLOCK] = BENCH_BLOCKS.appLimits;
const MB = 1024 * 1024;

function arg(name: string, fallback: number): number {
    const i = process.argv.indexOf(`--${name}`);
    const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
    if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name}: expected a positive whole number, got ${process.argv[i + 1]}`);
    return v;
}

function textArg(name: string): string | undefined {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
}

interface Variant {
    readonly name: string;
    readonly bundle: string;
    readonly env: NodeJS.ProcessEnv;
}

interface App {
    readonly child: ChildProcess;
    readonly port: number;
    readonly url: string;
    /** The operators' listener (the public one for a server from before it had one). */
    readonly metricsUrl: string;
}

/** VmRSS and VmHWM (peak RSS) of a process, in bytes. */
function memoryOf(pid: number): { rss: number; peak: number } {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

function getStatus(url: string, timeoutMs: number): Promise<number> {
    return new Promise((resolve) => {
        const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", () => resolve(0));
    });
}

async function startApp(variant: Variant, baseEnv: NodeJS.ProcessEnv, log: string): Promise<App> {
    const out = fs.openSync(log, "w");
    const child = spawn(process.execPath, [variant.bundle], {
        env: { ...baseEnv, ...variant.env, PORT: "0", METRICS_PORT: "0" },
        stdio: ["ignore", "pipe", out],
    });
    fs.closeSync(out);
    const [port, metricsPort] = await new Promise<[number, number]>((resolve, reject) => {
        let text = "";
        child.stdout?.on("data", (c) => {
            text += c;
            const m = /listening on [^ ]+:(\d+) .*\n/.exec(text);
            if (m) resolve([Number(m[1]), Number(/metrics, health and readiness on [^ ]+:(\d+)/.exec(m[0])?.[1] ?? m[1])]);
        });
        child.once("exit", (code) => reject(new Error(`server exited ${code}; see ${log}`)));
    });
    child.stdout?.resume();
    const url = `http://127.0.0.1:${port}`;
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    const deadline = Date.now() + 20_000;
    while ((await getStatus(`${url}/readyz`, 1000)) !== 200) {
        if (Date.now() > deadline) throw new Error(`${variant.name} never became ready; see ${log}`);
        await sleep(100);
    }
    return { child, port, url, metricsUrl };
}

async function stopApp(app: App): Promise<void> {
    if (app.child.exitCode !== null) return;
    const exited = new Promise<void>((r) => app.child.once("exit", () => r()));
    app.child.kill("SIGKILL");
    await exited;
}

interface ProbeAnswer {
    readonly status: number;
    /** When the request was sent (performance.now()). */
    readonly sent: number;
    readonly ms: number;
}

function summary(answers: readonly ProbeAnswer[]): string {
    const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
    const at = (q: number) => (ms.length ? ms[Math.min(ms.length - 1, Math.floor(q * ms.length))].toFixed(1) : "n/a");
    const byStatus = new Map<number, number>();
    for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    const statuses = [...byStatus].map(([s, n]) => `${s === 0 ? "no answer" : s} x${n}`).join(", ");
    return `${statuses || "none"}; latency p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
}

/** A client sending `GET /` on a new connection every `everyMs`: what a user feels meanwhile. */
class Probe {
    readonly answers: ProbeAnswer[] = [];
    private running = true;
    private readonly done: Promise<void>;

    constructor(url: string, everyMs: number, timeoutMs: number) {
        this.done = (async () => {
            const inFlight: Promise<void>[] = [];
            while (this.running) {
                const sent = performance.now();
                inFlight.push(
                    getStatus(url, timeoutMs).then((status) => void this.answers.push({ status, sent, ms: performance.now() - sent })),
                );
                await sleep(everyMs);
            }
            await Promise.all(inFlight);
        })();
    }

    async stop(): Promise<string> {
        this.running = false;
        await this.done;
        return `probe ${summary(this.answers)}`;
    }
}

/** The server's hitcounter_pending_hits, read one scrape at a time (no samples from a server without the gauge). */
class PendingSampler {
    readonly samples: { at: number; pending: number }[] = [];
    private running = true;
    private readonly done: Promise<void>;

    constructor(metricsUrl: string) {
        this.done = (async () => {
            while (this.running) {
                const page = await new Promise<string>((resolve) => {
                    http.get(`${metricsUrl}/metrics`, { agent: false, timeout: 2000 }, (res) => {
                        let body = "";
                        res.on("data", (c) => (body += c));
                        res.on("end", () => resolve(body));
                    }).on("error", () => resolve(""));
                });
                // Stamped when the answer arrives: the server's state then, not when the scrape was sent.
                const m = /^hitcounter_pending_hits (\d+)$/m.exec(page);
                if (m) this.samples.push({ at: performance.now(), pending: Number(m[1]) });
                await sleep(100);
            }
        })();
    }

    /** Whether the queue held at least `max` hits at the last sample before `from` and at the first one after `to`. */
    fullThroughout(from: number, to: number, max: number): boolean {
        const before = this.samples.filter((x) => x.at <= from).pop();
        const after = this.samples.find((x) => x.at >= to);
        return before !== undefined && after !== undefined && before.pending >= max && after.pending >= max;
    }

    stop(): Promise<void> {
        this.running = false;
        return this.done;
    }
}

const PARTIAL_HEAD = "GET / HTTP/1.1\r\nHost: hit-counter\r\n";

interface Row {
    readonly scenario: string;
    readonly variant: string;
    readonly idleRss: number;
    readonly peakRss: number;
    readonly detail: string;
}

/** Slowloris: `count` connections hold partial headers, adding a line every 2 s, for `holdMs`. */
async function slowClients(app: App, count: number, holdMs: number): Promise<string> {
    const sockets: net.Socket[] = [];
    let refusedAtAccept = 0;
    let timedOut408 = 0;
    let otherwiseClosed = 0;
    const opened = (socket: net.Socket) =>
        new Promise<void>((resolve) => {
            let data = "";
            socket.setEncoding("latin1");
            socket.on("data", (c: string) => (data += c));
            socket.on("error", () => undefined);
            socket.once("close", () => {
                if (data === "") refusedAtAccept++;
                else if (data.startsWith("HTTP/1.1 408")) timedOut408++;
                else otherwiseClosed++;
                resolve();
            });
            socket.once("connect", () => {
                socket.write(PARTIAL_HEAD);
                resolve();
            });
        });
    const probe = new Probe(`${app.url}/`, 250, 5000);
    const started = Date.now();
    for (let i = 0; i < count; i += 200) {
        const batch = Array.from({ length: Math.min(200, count - i) }, () => net.connect(app.port, "127.0.0.1"));
        sockets.push(...batch);
        await Promise.all(batch.map(opened));
    }
    const openedInMs = Date.now() - started;
    const drip = setInterval(() => {
        for (const s of sockets) if (!s.destroyed) s.write("X-Slow: 1\r\n");
    }, 2000);
    await sleep(Math.max(0, holdMs - openedInMs));
    clearInterval(drip);
    const stillOpen = sockets.filter((s) => !s.destroyed).length;
    for (const s of sockets) s.destroy();
    return (
        `${count} slow connections (opened in ${(openedInMs / 1000).toFixed(1)} s): ${refusedAtAccept} closed at accept, ` +
        `${timedOut408} answered 408, ${otherwiseClosed} closed otherwise, ${stillOpen} still open after ${holdMs / 1000} s; ${await probe.stop()}`
    );
}

/** A connection that pipelines `count` hits at once and counts the answers by status. */
async function pipeline(port: number, count: number, answered: Map<number, number>): Promise<net.Socket> {
    const socket = net.connect(port, "127.0.0.1");
    let tail = "";
    socket.setEncoding("latin1");
    socket.on("data", (c: string) => {
        const text = tail + c;
        for (const m of text.matchAll(/HTTP\/1\.1 (\d{3}) /g)) answered.set(Number(m[1]), (answered.get(Number(m[1])) ?? 0) + 1);
        tail = text.slice(-16);
    });
    socket.on("error", () => undefined);
    await new Promise<void>((r) => socket.once("connect", () => r()));
    socket.write(`GET / HTTP/1.1\r\nHost: hit-counter\r\n\r\n`.repeat(count));
    return socket;
}

/** Every master SIGSTOPped for `stallMs` while `connections` connections each pipeline `perConnection` hits. */
async function stalledPipelines(
    app: App,
    cluster: LocalCluster,
    connections: number,
    perConnection: number,
    stallMs: number,
): Promise<string> {
    const masters = new Set(cluster.shards.map((s) => s.master.address));
    const pids = cluster.nodes.filter((n) => masters.has(n.address)).map((n) => n.pid);
    const answered = new Map<number, number>();
    const total = () => [...answered.values()].reduce((a, b) => a + b, 0);
    for (const pid of pids) process.kill(pid, "SIGSTOP");
    let probeReport: string;
    let flows: net.Socket[];
    try {
        const sampler = new PendingSampler(app.metricsUrl);
        flows = [];
        for (let i = 0; i < connections; i += 200) {
            const batch = Array.from({ length: Math.min(200, connections - i) }, () => pipeline(app.port, perConnection, answered));
            flows.push(...(await Promise.all(batch)));
        }
        const probe = new Probe(`${app.url}/`, 100, 10_000);
        await sleep(stallMs);
        probeReport = await probe.stop();
        await sleep(200); // one more sample after the last answer
        await sampler.stop();
        // Probes answered while the queue stayed full: the 503 that is meant to come at once.
        const max = SERVER_LIMITS.maxPendingHits.fallback;
        const full = probe.answers.filter((a) => sampler.fullThroughout(a.sent, a.sent + a.ms, max));
        const peak = Math.max(0, ...sampler.samples.map((x) => x.pending));
        if (sampler.samples.length > 0) probeReport += `; pending hits at most ${peak}, probes sent with the queue full: ${summary(full)}`;
    } finally {
        for (const pid of pids) process.kill(pid, "SIGCONT");
    }
    const deadline = Date.now() + 60_000;
    while (total() < connections * perConnection && flows.some((f) => !f.destroyed) && Date.now() < deadline) await sleep(200);
    for (const f of flows) f.destroy();
    const byStatus = [...answered].map(([s, n]) => `${s} x${n}`).join(", ");
    return (
        `${connections} connection(s) x ${perConnection} pipelined hits: ${total()} answered (${byStatus || "none"}) ` +
        `once Redis was back; during the ${stallMs / 1000} s stall, ${probeReport}`
    );
}

async function measure(
    scenario: string,
    variant: Variant,
    baseEnv: NodeJS.ProcessEnv,
    dir: string,
    run: (app: App) => Promise<string>,
): Promise<Row> {
    const app = await startApp(variant, baseEnv, path.join(dir, `${scenario}-${variant.name}.log`.replace(/[^\w.-]+/g, "_")));
    try {
        await sleep(500); // settle after start
        const pid = app.child.pid ?? 0;
        const idleRss = memoryOf(pid).rss;
        const detail = await run(app);
        const peakRss = memoryOf(pid).peak;
        const row = { scenario, variant: variant.name, idleRss, peakRss, detail };
        console.log(`  ${variant.name}: RSS idle ${(idleRss / MB).toFixed(0)} MiB, peak ${(peakRss / MB).toFixed(0)} MiB; ${detail}`);
        return row;
    } finally {
        await stopApp(app);
    }
}

/** Every limit at its maximum: the server as it was before it had limits. */
function unboundedEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const v of Object.values(SERVER_LIMITS)) {
        if (["WAIT_REPLICAS", "WAIT_TIMEOUT_MS", "REQUEST_TIMEOUT_MS"].includes(v.env)) continue;
        env[v.env] = String(v.max);
    }
    env.KEEP_ALIVE_TIMEOUT_MS = "620000"; // the old value
    return env;
}

async function main(): Promise<void> {
    const slow = arg("slow", 12_000);
    const holdSeconds = arg("hold", 15);
    const pipelined = arg("pipelined", 30_000);
    const stallSeconds = arg("stall", 8);
    const beforeBundle = textArg("before-bundle");
    const limit = quantityBytes(APP_MEMORY_LIMIT);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hitcounter-bench-limits-"));
    let cluster: LocalCluster | undefined;
    try {
        console.log(
            `app limits benchmark ${new Date().toISOString()}: ${os.cpus().length} CPUs, Node ${process.version}, container limit ${APP_MEMORY_LIMIT}`,
        );
        cluster = await startLocalCluster({
            masters: 3,
            replicasPerMaster: 1,
            dir: path.join(dir, "cluster"),
            block: BLOCK,
            nodeTimeoutMs: 15_000,
        });
        const bundle = path.join(dir, "server.js");
        fs.writeFileSync(bundle, bundleServer());
        const baseEnv = {
            PATH: process.env.PATH,
            REDIS_NODES: cluster.seeds.join(","),
            REDIS_PASSWORD: cluster.password,
            HOST: "127.0.0.1",
        };
        const variants: Variant[] = [
            { name: "default limits", bundle, env: {} },
            { name: "limits at their maximum", bundle, env: unboundedEnv() },
            ...(beforeBundle ? [{ name: `before (${path.basename(beforeBundle)})`, bundle: path.resolve(beforeBundle), env: {} }] : []),
        ];
        const rows: Row[] = [];
        const c = cluster;
        console.log(`slow clients: ${slow} connections with partial headers for ${holdSeconds} s`);
        for (const v of variants)
            rows.push(await measure("slow clients", v, baseEnv, dir, (app) => slowClients(app, slow, holdSeconds * 1000)));
        // One connection (issue 12's case). Then the most the default limits let clients hold: every
        // connection but a few (left for the probe) with MAX_PIPELINED_REQUESTS unanswered hits; this
        // also fills the hit queue.
        const connections = SERVER_LIMITS.maxConnections.fallback - 16;
        const deepest = SERVER_LIMITS.maxPipelinedRequests.fallback;
        const stalls: [string, number, number][] = [
            ["Redis stalled, 1 connection", 1, pipelined],
            [`Redis stalled, ${connections} connections`, connections, deepest],
        ];
        for (const [scenario, connections, each] of stalls) {
            console.log(`${scenario}: masters SIGSTOPped ${stallSeconds} s, ${connections} x ${each} pipelined hits`);
            for (const v of variants) {
                rows.push(
                    await measure(scenario, v, baseEnv, dir, (app) => stalledPipelines(app, c, connections, each, stallSeconds * 1000)),
                );
            }
        }
        console.log(`\n| scenario | server | RSS idle MiB | RSS peak MiB | peak vs ${APP_MEMORY_LIMIT} |`);
        console.log("|---|---|---|---|---|");
        for (const r of rows) {
            console.log(
                `| ${r.scenario} | ${r.variant} | ${(r.idleRss / MB).toFixed(0)} | ${(r.peakRss / MB).toFixed(0)} | ${((100 * r.peakRss) / limit).toFixed(0)} % |`,
            );
        }
        const worst = Math.max(...rows.filter((r) => r.variant === "default limits").map((r) => r.peakRss));
        console.log(
            `\ngoal: peak RSS with the default limits under ${APP_MEMORY_LIMIT}: ${worst < limit ? "met" : "NOT met"} (${(worst / MB).toFixed(0)} MiB)`,
        );
    } finally {
        await cluster?.stop();
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
});
