/**
 * The embedded local mode: a real Redis Cluster of redis-server processes on loopback
 * addresses, formed by the project's own engine, plus the hit-counter app.
 *
 *   npm run demo                                   3x1 in the foreground; Ctrl-C stops everything
 *   npm run local -- up --masters 3 --replicas 1 --dir DIR    start, form, serve; returns (last stdout line: JSON)
 *   npm run local -- status --dir DIR              node roles and cluster state
 *   npm run local -- down --dir DIR                stop the app and every node of DIR
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { bundleServer } from "../components/app/bundle";
import { DirectTransport } from "../components/formation/transport";
import { LocalCluster, ShardInfo, attachLocalNodes, readLocalClusterState, startLocalCluster, stopLocalCluster } from "../local/cluster";
import { isAlive, terminate } from "../local/redisNode";

const COMMANDS = ["demo", "up", "down", "status"] as const;
type Command = (typeof COMMANDS)[number];

interface CliOptions {
    readonly command: Command;
    readonly masters: number;
    readonly replicas: number;
    readonly dir: string;
    readonly block: number;
    readonly appPort?: number;
    readonly nodeTimeoutMs?: number;
}

const FLAGS: Record<string, { readonly name: keyof CliOptions; readonly help: string; readonly int?: readonly [number, number] }> = {
    "--masters": { name: "masters", help: "masters, integer >= 3 (default 3)", int: [3, 100] },
    "--replicas": { name: "replicas", help: "replicas per master, integer 0-5 (default 1)", int: [0, 5] },
    "--dir": { name: "dir", help: "state directory (default .local/cluster; demo: a temporary one)" },
    "--block": { name: "block", help: "loopback block: nodes on 127.0.<block>.11+ (default 1)", int: [0, 255] },
    "--app-port": { name: "appPort", help: "hit-counter port on 127.0.0.1 (default: 8080 if free, else any free port)", int: [1, 65535] },
    "--node-timeout-ms": { name: "nodeTimeoutMs", help: "cluster-node-timeout in ms (default: the project default)", int: [500, 120000] },
};

export class UsageError extends Error {}

export function usage(): string {
    return [
        "usage: npm run demo",
        "       npm run local -- <up|down|status|demo> [flags]",
        "flags:",
        ...Object.entries(FLAGS).map(([flag, f]) => `  ${flag.padEnd(18)} ${f.help}`),
    ].join("\n");
}

/** argv (after the script name) -> validated options; every mistake names the flag and what is allowed. Pure. */
export function parseArgs(argv: readonly string[]): CliOptions {
    const [command, ...rest] = argv;
    if (!COMMANDS.includes(command as Command)) {
        throw new UsageError(
            `command: expected one of ${COMMANDS.join(", ")}, got ${command === undefined ? "nothing" : JSON.stringify(command)}`,
        );
    }
    const values: Record<string, string | number> = {};
    for (let i = 0; i < rest.length; i++) {
        const [flag, inline] = rest[i].split(/=(.*)/s, 2);
        const spec = FLAGS[flag];
        if (!spec) throw new UsageError(`unknown flag ${JSON.stringify(flag)}; allowed: ${Object.keys(FLAGS).join(", ")}`);
        const raw = inline ?? rest[++i];
        if (raw === undefined || raw === "") throw new UsageError(`${flag}: a value is required (${spec.help})`);
        if (spec.int) {
            const [min, max] = spec.int;
            if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
                throw new UsageError(`${flag}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
            }
            values[spec.name] = Number(raw);
        } else {
            values[spec.name] = raw;
        }
    }
    const masters = (values.masters as number | undefined) ?? 3;
    const replicas = (values.replicas as number | undefined) ?? 1;
    if (masters * (1 + replicas) + 10 > 254)
        throw new UsageError(`--masters/--replicas: ${masters * (1 + replicas)} nodes do not fit in one loopback block (at most 244)`);
    return {
        command: command as Command,
        masters,
        replicas,
        dir: path.resolve(
            (values.dir as string | undefined) ??
                (command === "demo" ? path.join(os.tmpdir(), `redis-demo-${process.pid}`) : path.join(".local", "cluster")),
        ),
        block: (values.block as number | undefined) ?? 1,
        appPort: values.appPort as number | undefined,
        nodeTimeoutMs: values.nodeTimeoutMs as number | undefined,
    };
}

const APP_STATE = "app.json";

interface AppState {
    readonly pid: number;
    readonly url: string;
}

function portIsFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.once("error", () => resolve(false));
        s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
}

async function freePort(preferred?: number): Promise<number> {
    if (preferred !== undefined) {
        if (!(await portIsFree(preferred))) throw new UsageError(`--app-port: port ${preferred} on 127.0.0.1 is already in use`);
        return preferred;
    }
    if (await portIsFree(8080)) return 8080;
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
    });
}

function httpStatus(url: string): Promise<number> {
    return new Promise((resolve) => {
        const req = http.get(url, { timeout: 1000 }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
        });
        req.on("error", () => resolve(0));
        req.on("timeout", () => req.destroy());
    });
}

/** Starts the hit-counter (the same single-file bundle Kubernetes runs) detached, and waits until /readyz answers 200. */
async function startApp(cluster: LocalCluster, dir: string, preferredPort?: number): Promise<AppState> {
    const port = await freePort(preferredPort);
    const bundle = path.join(dir, "server.js");
    fs.writeFileSync(bundle, bundleServer());
    const log = fs.openSync(path.join(dir, "app.log"), "a");
    const child = spawn(process.execPath, [bundle], {
        detached: true,
        stdio: ["ignore", log, log],
        env: {
            ...process.env,
            REDIS_NODES: cluster.seeds.join(","),
            REDIS_PASSWORD: cluster.password,
            REDIS_TLS: "false",
            PORT: String(port),
            HOST: "127.0.0.1",
            WAIT_REPLICAS: cluster.shards.every((s) => s.replicas.length > 0) ? "1" : "0",
        },
    });
    child.unref();
    fs.closeSync(log);
    const state: AppState = { pid: child.pid!, url: `http://127.0.0.1:${port}` };
    fs.writeFileSync(path.join(dir, APP_STATE), JSON.stringify(state) + "\n");
    const deadline = Date.now() + 30_000;
    while ((await httpStatus(`${state.url}/readyz`)) !== 200) {
        if (!isAlive(state.pid)) throw new Error(`the hit-counter app exited during start; see ${path.join(dir, "app.log")}`);
        if (Date.now() > deadline)
            throw new Error(
                `the hit-counter app did not become ready at ${state.url}/readyz within 30 s; see ${path.join(dir, "app.log")}`,
            );
        await new Promise((r) => setTimeout(r, 100));
    }
    return state;
}

async function stopApp(dir: string): Promise<boolean> {
    const file = path.join(dir, APP_STATE);
    if (!fs.existsSync(file)) return false;
    const { pid } = JSON.parse(fs.readFileSync(file, "utf8")) as AppState;
    fs.rmSync(file);
    if (!isAlive(pid)) return false;
    await terminate(pid, "SIGTERM", 10_000, 50);
    return true;
}

export function renderShardMap(shards: readonly ShardInfo[]): string {
    return shards
        .map((s) => {
            const slots = s.slots.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(",");
            const replicas = s.replicas.map((r) => r.address).join(", ") || "(none)";
            return `  master ${s.master.address}  slots ${slots.padEnd(12)} replicas ${replicas}`;
        })
        .join("\n");
}

async function up(o: CliOptions, foreground: boolean): Promise<void> {
    const say = (line: string) => process.stderr.write(`${line}\n`);
    const t0 = Date.now();
    const cluster = await startLocalCluster({
        masters: o.masters,
        replicasPerMaster: o.replicas,
        dir: o.dir,
        block: o.block,
        nodeTimeoutMs: o.nodeTimeoutMs,
        log: (l) => say(`[formation] ${l}`),
    });
    let app: AppState;
    try {
        say("[app] starting the hit-counter");
        app = await startApp(cluster, o.dir, o.appPort);
    } catch (e) {
        await cluster.stop();
        throw e;
    }
    const summary = {
        nodes: cluster.seeds,
        password: cluster.password,
        app: app.url,
        dir: o.dir,
        shards: cluster.shards,
    };
    console.log(
        `Redis Cluster formed in ${((Date.now() - t0) / 1000).toFixed(1)} s (${o.masters} masters x ${o.replicas} replicas), state in ${o.dir}`,
    );
    console.log(`Hit counter:  ${app.url}/     (try: curl ${app.url}/)`);
    console.log(`Redis seeds:  ${cluster.seeds.join(" ")}`);
    console.log(`redis-cli:    REDISCLI_AUTH='${cluster.password}' redis-cli -c -h ${cluster.seeds[0].split(":")[0]}`);
    console.log("Shard map:");
    console.log(renderShardMap(cluster.shards));
    if (!foreground) {
        console.log(`Stop with:    npm run local -- down --dir ${o.dir}`);
        console.log(JSON.stringify(summary));
        return;
    }
    console.log("Press Ctrl-C to stop everything.");
    // Signal listeners do not keep Node's event loop alive; this timer does, until Ctrl-C.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
    });
    clearInterval(keepAlive);
    say("\nstopping the app and every redis-server");
    await stopApp(o.dir);
    await cluster.stop();
    fs.rmSync(o.dir, { recursive: true, force: true });
}

async function down(o: CliOptions): Promise<void> {
    const nodes = attachLocalNodes(o.dir);
    const appStopped = await stopApp(o.dir);
    await stopLocalCluster(o.dir);
    console.log(`stopped ${nodes.length} redis-server processes${appStopped ? " and the hit-counter app" : ""} (data stays in ${o.dir})`);
}

async function status(o: CliOptions): Promise<void> {
    const state = readLocalClusterState(o.dir);
    if (!state)
        throw new UsageError(`--dir: no local cluster recorded in ${o.dir} (start one with \`npm run local -- up --dir ${o.dir}\`)`);
    const running = new Set(attachLocalNodes(o.dir).map((n) => n.address));
    const transport = new DirectTransport(state.password, 1000);
    const rows: { address: string; running: boolean; role?: string; clusterState?: string; error?: string }[] = [];
    try {
        for (const spec of state.nodes) {
            const address = `${spec.host}:${spec.port ?? 6379}`;
            if (!running.has(address)) {
                rows.push({ address, running: false });
                continue;
            }
            try {
                const info = await transport.call(address, ["CLUSTER", "INFO"]);
                const repl = await transport.call(address, ["INFO", "replication"]);
                rows.push({
                    address,
                    running: true,
                    role: /role:(\w+)/.exec(repl)?.[1],
                    clusterState: /cluster_state:(\w+)/.exec(info)?.[1],
                });
            } catch (e) {
                rows.push({ address, running: true, error: (e as Error).message });
            }
        }
    } finally {
        await transport.close();
    }
    const appFile = path.join(o.dir, APP_STATE);
    const app = fs.existsSync(appFile) ? (JSON.parse(fs.readFileSync(appFile, "utf8")) as AppState) : undefined;
    const appUp = app ? isAlive(app.pid) && (await httpStatus(`${app.url}/readyz`)) === 200 : false;
    for (const r of rows) {
        console.log(
            `${r.address.padEnd(18)} ${r.running ? "running" : "stopped"}  ${r.role ?? ""} ${r.clusterState ? `cluster_state:${r.clusterState}` : ""}${r.error ? ` error: ${r.error}` : ""}`,
        );
    }
    console.log(`app ${app?.url ?? "(not started)"} ${appUp ? "ready" : "not ready"}`);
    console.log(JSON.stringify({ nodes: rows, app: app ? { url: app.url, ready: appUp } : null }));
}

export async function main(argv: readonly string[]): Promise<void> {
    const o = parseArgs(argv);
    switch (o.command) {
        case "demo":
            return up(o, true);
        case "up":
            return up(o, false);
        case "down":
            return down(o);
        case "status":
            return status(o);
    }
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((e: Error) => {
        if (e instanceof UsageError) {
            console.error(`error: ${e.message}\n\n${usage()}`);
            process.exit(2);
        }
        console.error(`error: ${e.message}`);
        process.exit(1);
    });
}
