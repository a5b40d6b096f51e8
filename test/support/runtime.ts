/** Running the local pod runtime from tests: the CLI as a child process, or a supervisor inside the test process. */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { waitUntil } from "../../lib/poll";
import { Layout } from "../../local/layout";
import { PodView, StatusView, call } from "../../local/protocol";
import { KubeletTimings } from "../../local/rules";
import { Started, UpOptions, upCluster } from "../../local/up";

export const ROOT = path.resolve(__dirname, "../..");

export interface CliRun {
    readonly status: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

/** `npm run local -- <args>` as a child process (ts-node, as npm runs it). */
export function runCli(args: readonly string[], timeoutMs = 120_000): CliRun {
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(ROOT, "scripts", "local.ts"), ...args], {
        cwd: ROOT,
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: os.tmpdir() },
        timeout: timeoutMs,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The last stdout line of a CLI run, parsed as JSON. */
export function lastJson<T>(r: CliRun): T {
    const lines = r.stdout.trim().split("\n");
    return JSON.parse(lines[lines.length - 1]) as T;
}

/** A private temporary directory, removed by `removeTempDirs`. */
const temps: string[] = [];
export function tempDir(label: string): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), `runtime-${label}-`));
    temps.push(d);
    return d;
}
export function removeTempDirs(): void {
    for (const d of temps.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** Timings that keep tests short: probes 5x as often, a short pod-start delay. */
export const FAST_TIMINGS: Partial<KubeletTimings> = { probePeriodScale: 0.2, podStartDelayMs: 1000 };

/** A cluster (3x1, plain, unless `shape` says otherwise) whose supervisor runs in the test process (its pods are real processes all the same). */
export function startInProcess(
    block: number,
    timings: Partial<KubeletTimings>,
    label: string,
    shape: Pick<UpOptions, "replicas" | "nodeTimeoutMs" | "handover" | "takeover" | "tls" | "surgeReplica"> = {},
): Promise<Started> {
    const quiet = () => undefined;
    return upCluster(
        { dir: path.join(tempDir(label), "cluster"), block, timings, log: quiet, ...shape },
        { kind: "in-process", log: quiet },
    );
}

export function status(layout: Layout): Promise<StatusView> {
    return call<StatusView>(layout, { verb: "status" });
}

export function podOf(s: StatusView, name: string): PodView {
    const p = s.pods.find((x) => x.name === name);
    if (!p) throw new Error(`no pod ${name} in ${JSON.stringify(s.pods.map((x) => x.name))}`);
    return p;
}

/** Waits until every pod is Ready, cluster_state is ok and the app (if any) is ready; resolves with that status. */
export async function waitHealthy(layout: Layout, timeoutMs = 60_000): Promise<StatusView> {
    let last: StatusView | undefined;
    await waitUntil(
        "every pod Ready, cluster_state ok",
        async () => {
            last = await status(layout);
            const notReady = last.pods.filter((p) => !p.ready).map((p) => p.name);
            if (notReady.length) return `not Ready: ${notReady.join(", ")}`;
            if (last.clusterState !== "ok") return `cluster_state ${last.clusterState}`;
            if (last.app && !last.app.ready) return "app not ready";
            return undefined;
        },
        { timeoutMs, intervalMs: 200 },
    );
    return last as StatusView;
}

/** A password alone (the `default` user of a bare node), or an ACL user and its password (local pods: admin). */
export type Credentials = string | { readonly username: string; readonly password: string };

/** redis-cli's arguments and environment for `c`: the password in the environment, never on the command line. */
export function cliAuth(c: Credentials): { args: string[]; env: NodeJS.ProcessEnv } {
    const password = typeof c === "string" ? c : c.password;
    return { args: typeof c === "string" ? [] : ["--user", c.username], env: { ...process.env, REDISCLI_AUTH: password } };
}

/** The admin user of a local cluster of pods (`npm run local -- up`). */
export const admin = (password: string): Credentials => ({ username: "admin", password });

/** redis-cli against one node; the password in the environment, never on the command line. */
export function redisCli(host: string, credentials: Credentials, ...args: string[]): string {
    const auth = cliAuth(credentials);
    const r = spawnSync("redis-cli", ["--no-auth-warning", "-h", host, "-p", "6379", ...auth.args, ...args], {
        encoding: "utf8",
        env: auth.env,
        timeout: 5000,
    });
    return (r.stdout ?? "").replace(/\r/g, "").trim();
}
