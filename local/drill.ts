/**
 * `npm run local -- drill --dir DIR [--delete]`: the tutorial's failover demo, scripted and
 * measured. Roles before; a client keeps hitting the app while the master that owns `hits` is
 * SIGKILLed (a crash: the kubelet restarts it in place) or deleted (it comes back at a new
 * address); roles after; the write-unavailability window, acknowledged hits, hits lost.
 */
import { setTimeout as sleep } from "timers/promises";
import { HITS_KEY } from "../app/hits";
import { DirectTransport } from "../components/formation/transport";
import { HitAnswer, HitLoad, acknowledgedHitsLost, analyseAnswers, longestWriteGapMs, writeWindowMs } from "../lib/hitLoad";
import { waitUntil } from "../lib/poll";
import { Layout } from "./layout";
import { DeleteResult, KillResult, PodView, StatusView, call } from "./protocol";
import { passwordOf, readConfig } from "./state";

export interface DrillFindings {
    /** From the SIGKILL (or the start of the deletion) to the first acknowledged hit of a request sent after it (undefined: never). */
    readonly windowMs?: number;
    readonly longestGapMs: number;
    readonly acknowledged: number;
    readonly refused: number;
    /** Acknowledged hits missing from Redis, repeated or lower than one returned before (must be 0). */
    readonly lost: number;
}

/** Pure: what the answers of the load say about a disruption at `since`. */
export function drillFindings(answers: readonly HitAnswer[], since: number, finalCounter: number): DrillFindings {
    const f = analyseAnswers(answers);
    return {
        windowMs: writeWindowMs(answers, since),
        longestGapMs: longestWriteGapMs(answers),
        acknowledged: f.acknowledged,
        refused: f.failed,
        lost: acknowledgedHitsLost(f, finalCounter),
    };
}

export interface DrillReport extends DrillFindings {
    readonly mode: "kill" | "delete";
    readonly pod: string;
    readonly addressBefore: string;
    readonly addressAfter: string;
    readonly roleAfter?: string;
    readonly finalCounter: number;
    readonly before: readonly PodView[];
    readonly after: readonly PodView[];
    /** From the kill/delete until every pod was Ready again with cluster_state ok. */
    readonly settledMs: number;
}

export interface DrillOptions {
    readonly mode: "kill" | "delete";
    readonly clients?: number;
    readonly say: (line: string) => void;
}

const SETTLE_TIMEOUT_MS = 90_000;
const HEALTHY_TIMEOUT_MS = 30_000;

/** The master that owns `hits`, as the cluster itself answers. */
async function ownerOfHits(transport: DirectTransport, pods: readonly PodView[]): Promise<PodView> {
    const any = pods.find((p) => p.clusterState === "ok") ?? pods[0];
    const slot = Number(await transport.call(`${any.address}:6379`, ["CLUSTER", "KEYSLOT", HITS_KEY]));
    const masters = pods.filter((p) => p.role === "master");
    for (const m of masters) {
        const nodes = await transport.call(`${m.address}:6379`, ["CLUSTER", "NODES"]);
        const self = nodes.split("\n").find((l) => l.split(" ")[2]?.includes("myself"));
        const ranges = (self?.split(" ").slice(8) ?? []).map((r) => r.split("-").map(Number));
        if (ranges.some(([a, b]) => slot >= a && slot <= (b ?? a))) return m;
    }
    throw new Error(`no master owns slot ${slot} of "${HITS_KEY}"`);
}

/** Asks the cluster with fresh connections (those opened before a node died stay closed). */
async function withTransport<T>(password: string, f: (t: DirectTransport) => Promise<T>): Promise<T> {
    const transport = new DirectTransport(password, 2000);
    try {
        return await f(transport);
    } finally {
        await transport.close();
    }
}

function settled(s: StatusView): string | undefined {
    const notReady = s.pods.filter((p) => !p.ready).map((p) => p.name);
    if (notReady.length) return `not Ready: ${notReady.join(", ")}`;
    if (s.clusterState !== "ok") return `cluster_state ${s.clusterState}`;
    if (!s.app?.ready) return "app not ready";
    return undefined;
}

export async function runDrill(layout: Layout, o: DrillOptions): Promise<DrillReport> {
    const config = readConfig(layout);
    if (!config) throw new Error(`--dir: ${layout.dir} holds no local cluster`);
    const status = () => call<StatusView>(layout, { verb: "status" });
    let initial = await status();
    if (!initial.app) throw new Error(`drill: the app is not running in ${layout.dir}; start the cluster with \`npm run local -- up --dir ${layout.dir}\``);
    // Right after `up` or a previous drill, readiness probes may still be catching up.
    await waitUntil(
        `drill: every pod Ready and the app serving before the drill (see \`npm run local -- status --dir ${layout.dir}\`)`,
        async () => settled((initial = await status())),
        { timeoutMs: HEALTHY_TIMEOUT_MS, intervalMs: 200 },
    );
    const app = initial.app as NonNullable<StatusView["app"]>;
    const password = passwordOf(layout, config);
    const victim = await withTransport(password, (t) => ownerOfHits(t, initial.pods));
    const load = new HitLoad({ url: `${app.url}/`, clients: o.clients ?? 4 });
    try {
        await sleep(1000);
        const before = (await status()).pods;
        o.say(`${o.mode === "kill" ? "SIGKILL" : "delete"} ${victim.name} (${victim.address}), the master of "${HITS_KEY}", while ${o.clients ?? 4} clients keep hitting ${app.url}/`);
        const acted =
            o.mode === "kill"
                ? await call<KillResult>(layout, { verb: "kill", pod: victim.name })
                : await call<DeleteResult>(layout, { verb: "delete", pod: victim.name });
        // The load's clock at the moment the supervisor acted (same machine, same wall clock).
        const since = load.now() - (Date.now() - acted.at);
        const t0 = acted.at;
        o.say(
            "restartInMs" in acted
                ? `  the kubelet restarts it in place at ${acted.address} ${acted.restartInMs ? `after a ${acted.restartInMs} ms back-off` : "at once"} (restart ${acted.restarts})`
                : `  terminated after ${acted.terminatedAfterMs} ms; recreated at ${acted.newAddress} after ${acted.recreatedAfterMs} ms`,
        );
        await waitUntil("drill: the cluster settles", async () => settled(await status()), { timeoutMs: SETTLE_TIMEOUT_MS, intervalMs: 200 });
        const settledMs = Date.now() - t0;
        await sleep(500); // a little load after recovery: the counter keeps going up
        await load.stop();
        const after = (await status()).pods;
        const finalCounter = await withTransport(password, async (t) => Number(await t.call(`${(await ownerOfHits(t, after)).address}:6379`, ["GET", HITS_KEY])));
        const back = after.find((p) => p.name === victim.name) as PodView;
        return {
            mode: o.mode,
            pod: victim.name,
            addressBefore: victim.address,
            addressAfter: back.address,
            roleAfter: back.role,
            finalCounter,
            before,
            after,
            settledMs,
            ...drillFindings(load.answers, since, finalCounter),
        };
    } finally {
        await load.stop();
    }
}
