/**
 * `npm run local -- drill --dir DIR [--delete|--freeze]`: the tutorial's failover demo, scripted
 * and measured. Roles before; clients keep hitting the app while the master that owns `hits` is
 * SIGKILLed (a crash: the kubelet restarts it in place), deleted (it comes back at a new address),
 * frozen until a replica took over (a machine lost, then back), or every pod is rolled (as an image
 * change does: the benchmark's rolling-restart rows); roles after; the
 * write-unavailability window, acknowledged hits, hits lost. The failover test and benchmark run
 * this same drill.
 */
import { setTimeout as sleep } from "timers/promises";
import { HITS_KEY } from "../app/hits";
import { ownsSlot, parseClusterNodes } from "../components/formation/clusterState";
import { DirectTransport, NodeAccess } from "../components/formation/transport";
import { HitAnswer, HitLoad, acknowledgedHitsLost, analyseAnswers, longestWriteGapMs, unavailableMs, writeWindowMs } from "../lib/hitLoad";
import { waitUntil } from "../lib/poll";
import { Layout } from "./layout";
import { DeleteResult, FreezeResult, KillResult, PodView, RollResult, StatusView, call } from "./protocol";
import { renderRoles } from "./statusView";
import { redisEndpoint } from "./rules";
import { ClusterConfig, accessOf, readConfig } from "./state";

export interface DrillFindings {
    /** From the SIGKILL (or the start of the deletion) to the first acknowledged hit of a request sent after it (undefined: never). */
    readonly windowMs?: number;
    readonly longestGapMs: number;
    /** Time spent in write gaps of at least UNAVAILABLE_GAP_MS, summed (a rolling restart has several). */
    readonly unavailableMs: number;
    readonly acknowledged: number;
    readonly refused: number;
    /** Acknowledged hits missing from Redis, repeated or lower than one returned before (must be 0). */
    readonly lost: number;
}

/** Gaps shorter than this are the load's ordinary rhythm under CPU contention, not unavailability. */
export const UNAVAILABLE_GAP_MS = 100;

/** Pure: what the answers of the load say about a disruption at `since`. */
export function drillFindings(answers: readonly HitAnswer[], since: number, finalCounter: number): DrillFindings {
    const f = analyseAnswers(answers);
    return {
        windowMs: writeWindowMs(answers, since),
        longestGapMs: longestWriteGapMs(answers),
        unavailableMs: unavailableMs(answers, UNAVAILABLE_GAP_MS),
        acknowledged: f.acknowledged,
        refused: f.failed,
        lost: acknowledgedHitsLost(f, finalCounter),
    };
}

export type DrillMode = "kill" | "delete" | "freeze" | "roll";

export interface DrillReport extends DrillFindings {
    readonly mode: DrillMode;
    readonly pod: string;
    readonly addressBefore: string;
    readonly addressAfter: string;
    readonly roleAfter?: string;
    readonly finalCounter: number;
    readonly before: readonly PodView[];
    readonly after: readonly PodView[];
    /** From the disruption until one of the master's replicas reported itself master (undefined: none did). */
    readonly promotedMs?: number;
    /** From the disruption until every pod was Ready again with cluster_state ok and the app ready. */
    readonly settledMs: number;
    /** Acknowledged hits of requests answered before the disruption, and sent after it (both > 0: the load straddled it). */
    readonly acknowledgedBefore: number;
    readonly acknowledgedAfter: number;
}

export interface DrillOptions {
    readonly mode: DrillMode;
    /** Concurrent clients of the load (default 4). */
    readonly clients?: number;
    /** Load before the disruption (ms, default 1000). */
    readonly warmupMs?: number;
    /** The load's cap on requests (a whole rolling restart under 12 clients needs more than the default). */
    readonly maxRequests?: number;
    readonly say: (line: string) => void;
}

const SETTLE_TIMEOUT_MS = 90_000;
const HEALTHY_TIMEOUT_MS = 30_000;

/** The master that owns `hits`, as the cluster itself answers. */
async function ownerOfHits(transport: DirectTransport, pods: readonly PodView[]): Promise<PodView> {
    const asked = redisEndpoint((pods.find((p) => p.clusterState === "ok") ?? pods[0]).address);
    const slot = Number(await transport.call(asked, ["CLUSTER", "KEYSLOT", HITS_KEY]));
    const owner = parseClusterNodes(await transport.call(asked, ["CLUSTER", "NODES"])).find(
        (e) => e.flags.includes("master") && !e.flags.includes("fail") && ownsSlot(e, slot),
    );
    const pod = owner && pods.find((p) => redisEndpoint(p.address) === owner.address);
    if (!pod) throw new Error(`no pod is the master of slot ${slot} of "${HITS_KEY}" (asked ${asked}: ${owner?.address ?? "no owner"})`);
    return pod;
}

/** Asks the cluster with fresh connections (those opened before a node died stay closed). */
async function withTransport<T>(access: NodeAccess, f: (t: DirectTransport) => Promise<T>): Promise<T> {
    const transport = new DirectTransport(access, 2000);
    try {
        return await f(transport);
    } finally {
        await transport.close();
    }
}

/** The value of `hits`, read from the master that owns it. */
export function hitsCounter(access: NodeAccess, pods: readonly PodView[]): Promise<number> {
    return withTransport(access, async (t) => Number(await t.call(redisEndpoint((await ownerOfHits(t, pods)).address), ["GET", HITS_KEY])));
}

/** The pod of the master that owns `hits` right now. */
export async function masterOfHits(layout: Layout): Promise<PodView> {
    const config = readConfig(layout);
    if (!config) throw new Error(`--dir: ${layout.dir} holds no local cluster`);
    const { pods } = await call<StatusView>(layout, { verb: "status" });
    return withTransport(accessOf(layout, config), (t) => ownerOfHits(t, pods));
}

/** Why the cluster has not settled yet (a pod not Ready, cluster_state not ok, the app not ready), or undefined once it has. */
export function settled(s: StatusView): string | undefined {
    const notReady = s.pods.filter((p) => !p.ready).map((p) => p.name);
    if (notReady.length) return `not Ready: ${notReady.join(", ")}`;
    if (s.clusterState !== "ok") return `cluster_state ${s.clusterState}`;
    if (!s.app?.ready) return "app not ready";
    return undefined;
}

/** Resolves the epoch ms at which one of `heirs` first answered ROLE as master (polled every 20 ms), or undefined once `stop()` is called. */
function watchPromotion(access: NodeAccess, heirs: readonly PodView[]): { promotedAt: Promise<number | undefined>; stop: () => void } {
    let stopped = false;
    const promotedAt = withTransport(access, async (t) => {
        while (!stopped) {
            const roles = await Promise.all(heirs.map((h) => t.call(redisEndpoint(h.address), ["ROLE"]).catch(() => "")));
            if (roles.some((r) => r.startsWith("master"))) return Date.now();
            await sleep(20);
        }
        return undefined;
    });
    return { promotedAt, stop: () => (stopped = true) };
}

/** The disruption itself, through the supervisor; resolves when the supervisor acted, with when (epoch ms). */
async function disrupt(
    layout: Layout,
    victim: PodView,
    mode: DrillMode,
    promotedAt: Promise<number | undefined>,
    say: (l: string) => void,
): Promise<number> {
    if (mode === "kill") {
        const r = await call<KillResult>(layout, { verb: "kill", pod: victim.name });
        say(
            `  the kubelet restarts it in place at ${r.address} ${r.restartInMs ? `after a ${r.restartInMs} ms back-off` : "at once"} (restart ${r.restarts})`,
        );
        return r.at;
    }
    if (mode === "roll") {
        const at = Date.now();
        const r = await call<RollResult>(layout, { verb: "roll" });
        say(`  rolled ${r.steps.map((s) => s.pod).join(", ")} in ${Date.now() - at} ms, each Ready before the next`);
        return at;
    }
    if (mode === "delete") {
        const r = await call<DeleteResult>(layout, { verb: "delete", pod: victim.name });
        say(`  terminated after ${r.terminatedAfterMs} ms; recreated at ${r.newAddress} with its data after ${r.recreatedAfterMs} ms`);
        return r.at;
    }
    const { at } = await call<FreezeResult>(layout, { verb: "freeze", pod: victim.name });
    const promoted = await Promise.race([promotedAt, sleep(SETTLE_TIMEOUT_MS).then(() => undefined)]);
    await call(layout, { verb: "thaw", pod: victim.name });
    say(`  frozen (SIGSTOP) until ${promoted ? `a replica took over, ${promoted - at} ms later` : "the wait ran out"}; then thawed`);
    return at;
}

/**
 * The drill (see the module comment): waits until the cluster is healthy, loads it, disrupts the master
 * of `hits` as `o.mode` says, waits until it settled again and reports what the clients saw.
 */
export async function runDrill(layout: Layout, o: DrillOptions): Promise<DrillReport> {
    const status = () => call<StatusView>(layout, { verb: "status" });
    const first = await status();
    const access = accessOf(layout, readConfig(layout) as ClusterConfig);
    const current = await readyForDrill(layout, first, status);
    const url = `${current.app?.url}/`;
    const before = current.pods;
    const victim = await withTransport(access, (t) => ownerOfHits(t, before));
    o.say(`Roles before:\n${renderRoles(before)}\n`);
    const load = new HitLoad({ url, clients: o.clients ?? 4, maxRequests: o.maxRequests });
    const promotion = watchPromotion(
        access,
        before.filter((p) => p.role === "replica" && p.master === victim.name),
    );
    try {
        await sleep(o.warmupMs ?? 1000);
        o.say(`${disruptionTitle(o.mode, victim)}, while ${o.clients ?? 4} clients keep hitting ${url}`);
        const at = await disrupt(layout, victim, o.mode, promotion.promotedAt, o.say);
        // The load's clock at the moment the supervisor acted (same machine, same wall clock).
        const since = load.now() - (Date.now() - at);
        const settledMs = await settleThenStopLoad(load, status, at);
        promotion.stop();
        const promotedAt = await promotion.promotedAt;
        const after = (await status()).pods;
        const finalCounter = await hitsCounter(access, after);
        return drillReport({ mode: o.mode, victim, before, after, at, since, settledMs, promotedAt, answers: load.answers, finalCounter });
    } finally {
        promotion.stop();
        await load.stop();
    }
}

/**
 * The status once the drill may start: the app runs and every pod is Ready. Right after `up` or a
 * previous drill, readiness probes may still be catching up, so it waits rather than refuses.
 */
async function readyForDrill(layout: Layout, first: StatusView, status: () => Promise<StatusView>): Promise<StatusView> {
    let current = first;
    if (!current.app)
        throw new Error(
            `drill: the app is not running in ${layout.dir}; start the cluster with \`npm run local -- up --dir ${layout.dir}\``,
        );
    await waitUntil(
        `drill: every pod Ready and the app serving before the drill (see \`npm run local -- status --dir ${layout.dir}\`)`,
        async () => settled((current = await status())),
        { timeoutMs: HEALTHY_TIMEOUT_MS, intervalMs: 200 },
    );
    return current;
}

/** Pure: the line that says what the drill does to whom. */
function disruptionTitle(mode: DrillMode, victim: PodView): string {
    return mode === "roll"
        ? `rolling restart of every pod (${victim.name}, ${victim.address}, is the master of "${HITS_KEY}")`
        : `${{ kill: "SIGKILL", delete: "delete", freeze: "freeze" }[mode]} ${victim.name} (${victim.address}), the master of "${HITS_KEY}"`;
}

/**
 * Waits until the cluster settled after the disruption at `at` and resolves how long that took; then
 * stops the load. A load that hit its request cap is refused: the gaps after the cap would be unseen.
 */
async function settleThenStopLoad(load: HitLoad, status: () => Promise<StatusView>, at: number): Promise<number> {
    await waitUntil("drill: the cluster settles", async () => settled(await status()), {
        timeoutMs: SETTLE_TIMEOUT_MS,
        intervalMs: 200,
    });
    const settledMs = Date.now() - at;
    await sleep(500); // a little load after recovery: the counter keeps going up
    await load.stop();
    if (load.capped)
        throw new Error(
            `drill: the load stopped at its cap of ${load.maxRequests} requests before the cluster settled; its gaps would be unseen (fewer clients, or a higher maxRequests)`,
        );
    return settledMs;
}

/** What the drill observed, before the report is drawn from it. */
interface DrillObservations {
    readonly mode: DrillMode;
    readonly victim: PodView;
    readonly before: readonly PodView[];
    readonly after: readonly PodView[];
    /** When the supervisor acted (epoch ms). */
    readonly at: number;
    /** The same moment on the load's clock. */
    readonly since: number;
    readonly settledMs: number;
    readonly promotedAt: number | undefined;
    readonly answers: readonly HitAnswer[];
    readonly finalCounter: number;
}

/** Pure: the drill's report from what it observed. */
function drillReport(d: DrillObservations): DrillReport {
    const back = d.after.find((p) => p.name === d.victim.name) as PodView;
    const acked = d.answers.filter((a) => a.status === 200);
    return {
        mode: d.mode,
        pod: d.victim.name,
        addressBefore: d.victim.address,
        addressAfter: back.address,
        roleAfter: back.role,
        finalCounter: d.finalCounter,
        before: d.before,
        after: d.after,
        promotedMs: d.promotedAt === undefined ? undefined : d.promotedAt - d.at,
        settledMs: d.settledMs,
        acknowledgedBefore: acked.filter((a) => a.end < d.since).length,
        acknowledgedAfter: acked.filter((a) => a.start >= d.since).length,
        ...drillFindings(d.answers, d.since, d.finalCounter),
    };
}
