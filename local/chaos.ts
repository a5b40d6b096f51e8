/**
 * `npm run local -- chaos --duration S --seed N --dir DIR`: random kills, deletions, freezes and
 * rolls (the schedule of chaosSchedule.ts, a function of the seed) under durable load for S
 * seconds, one fault at a time, each followed by a wait until the cluster settled. Then the
 * verdict: every acknowledged count is in Redis, no count went backwards or was returned twice,
 * `redis-cli --cluster check` is clean and every replica's link is up.
 */
import { setTimeout as sleep } from "timers/promises";
import { DirectTransport, NodeAccess } from "../components/formation/transport";
import { clusterCheckProblems, redisCliCheck } from "../lib/clusterCheck";
import { HitAnswer, HitLoad, acknowledgedHitsLost, analyseAnswers, longestGapWithin, longestWriteGapMs } from "../lib/hitLoad";
import { waitUntil } from "../lib/poll";
import { median } from "../lib/stats";
import { Fault, chaosSchedule, describeFault } from "./chaosSchedule";
import { hitsCounter, masterOfHits, settled } from "./drill";
import { Layout } from "./layout";
import { PodView, StatusView, call } from "./protocol";
import { redisEndpoint } from "./rules";
import { ClusterConfig, accessOf, caFileOf, readConfig } from "./state";

export interface ChaosOptions {
    readonly durationMs: number;
    readonly seed: number;
    /** Concurrent clients of the load (default 4). */
    readonly clients?: number;
    /** How long the cluster may take to settle after a fault (default 90 s). */
    readonly settleTimeoutMs?: number;
    readonly say: (line: string) => void;
}

export interface AppliedFault {
    readonly n: number;
    readonly what: string;
    /** When the fault began and when the cluster had settled after it (ms since the load started). */
    readonly at: number;
    readonly settledAt?: number;
    /** The longest time without an acknowledged hit that overlaps the fault and its recovery. */
    readonly longestGapMs: number;
    /** Why the fault could not be applied (the supervisor refused it), if so. */
    readonly skipped?: string;
}

export interface ChaosFindings {
    readonly acknowledged: number;
    readonly refused: number;
    readonly finalCounter: number;
    /** Acknowledged counts above the final counter, returned twice or lower than one returned before. */
    readonly lost: number;
    readonly repeated: number;
    readonly wentBackwards: number;
    readonly clusterCheckProblems: readonly string[];
    /** Replicas whose master_link_status is not up. */
    readonly linksDown: readonly string[];
    /** A fault after which the cluster did not settle in time. */
    readonly unsettled?: string;
    /** The load stopped at its request cap before the faults ended: what followed was not measured. */
    readonly loadCapped?: string;
}

export interface ChaosReport extends ChaosFindings {
    readonly seed: number;
    readonly durationMs: number;
    readonly faults: readonly AppliedFault[];
    readonly longestGapMs: number;
    readonly medianFaultGapMs: number;
    readonly problems: readonly string[];
    readonly verdict: "pass" | "fail";
}

/** Pure: everything a chaos run must not show, one line each (empty: it passed). */
export function chaosProblems(f: ChaosFindings): string[] {
    const problems: string[] = [];
    if (f.unsettled) problems.push(f.unsettled);
    if (f.loadCapped) problems.push(f.loadCapped);
    if (f.lost > 0)
        problems.push(
            `${f.lost} acknowledged hits lost (counter ${f.finalCounter}; ${f.repeated} returned twice, ${f.wentBackwards} went backwards)`,
        );
    for (const p of f.clusterCheckProblems) problems.push(`redis-cli --cluster check: ${p}`);
    for (const r of f.linksDown) problems.push(`replica link down: ${r}`);
    return problems;
}

const DEFAULT_SETTLE_TIMEOUT_MS = 90_000;
/** The load's cap: at 4 clients on 2 cores, about 20 minutes of chaos (each answer is kept for the verdict). */
const MAX_REQUESTS = 2_000_000;
/** Faults drawn: far more than any run applies (each takes seconds). */
const SCHEDULE_LENGTH = 1000;

function podToHit(f: Fault, s: StatusView, layout: Layout): Promise<string | undefined> {
    if ("all" in f.target) return Promise.resolve(undefined);
    if ("master" in f.target) return masterOfHits(layout).then((p) => p.name);
    return Promise.resolve(s.pods[f.target.ordinal % s.pods.length].name);
}

/** Applies one fault through the supervisor; resolves with the pod it hit. */
async function apply(layout: Layout, f: Fault, pod: string | undefined): Promise<void> {
    if (f.kind === "roll") {
        await call(layout, { verb: "roll" });
        return;
    }
    const name = pod as string;
    if (f.kind === "freeze") {
        await call(layout, { verb: "freeze", pod: name });
        await sleep(f.holdMs);
        await call(layout, { verb: "thaw", pod: name });
        return;
    }
    await call(layout, { verb: f.kind, pod: name });
}

async function waitSettled(layout: Layout, timeoutMs: number): Promise<StatusView> {
    let last: StatusView | undefined;
    await waitUntil(
        "the cluster settles (every pod Ready, cluster_state ok, the app ready)",
        async () => settled((last = await call<StatusView>(layout, { verb: "status" }))),
        { timeoutMs, intervalMs: 200 },
    );
    return last as StatusView;
}

async function replicaLinksDown(access: NodeAccess, pods: readonly PodView[]): Promise<string[]> {
    const transport = new DirectTransport(access, 2000);
    try {
        const replicas = pods.filter((p) => p.role === "replica");
        const infos = await Promise.all(
            replicas.map((p) => transport.call(redisEndpoint(p.address), ["INFO", "replication"]).catch((e: Error) => e.message)),
        );
        return replicas.filter((_, i) => !/master_link_status:up/.test(infos[i])).map((p) => `${p.name} (replica of ${p.master ?? "?"})`);
    } finally {
        await transport.close();
    }
}

/**
 * The chaos run (see the module comment): faults from the seed's schedule, one at a time under load,
 * until the duration is spent, the load is capped or the cluster does not settle; then the verdict.
 */
export async function runChaos(layout: Layout, o: ChaosOptions): Promise<ChaosReport> {
    const config = readConfig(layout);
    if (!config) throw new Error(`--dir: ${layout.dir} holds no local cluster`);
    const access = accessOf(layout, config);
    const settleTimeoutMs = o.settleTimeoutMs ?? DEFAULT_SETTLE_TIMEOUT_MS;
    let status = await waitSettled(layout, 30_000);
    if (!status.app) throw new Error(`chaos: the app is not running in ${layout.dir}; start the cluster with \`npm run local -- up\``);
    const schedule = chaosSchedule(o.seed, { pods: status.pods.length, nodeTimeoutMs: config.nodeTimeoutMs, count: SCHEDULE_LENGTH });
    o.say(
        `chaos: seed ${o.seed}, ${o.durationMs / 1000} s of faults under durable load (${o.clients ?? 4} clients) on ${status.pods.length} pods`,
    );
    const load = new HitLoad({ url: `${status.app.url}/`, clients: o.clients ?? 4, maxRequests: MAX_REQUESTS });
    const faults: AppliedFault[] = [];
    let unsettled: string | undefined;
    try {
        await sleep(1000);
        for (const [i, f] of schedule.entries()) {
            await sleep(f.pauseMs);
            if (load.now() >= o.durationMs || load.capped) break;
            const step = await applyAndSettle(layout, f, i + 1, status, load, settleTimeoutMs);
            status = step.status;
            unsettled = step.unsettled;
            faults.push(step.applied);
            o.say(faultLine(step.applied));
            // An unsettled cluster already fails the run; more faults on it would blur which one broke it.
            if (unsettled) break;
        }
        await sleep(500);
    } finally {
        await load.stop();
    }
    if (!unsettled) status = await waitSettled(layout, settleTimeoutMs).catch(() => status);
    const findings = await chaosFindings(layout, config, access, status.pods, load, unsettled);
    return chaosReport(o, faults, findings, load.answers);
}

/**
 * Fault number `n`: applied through the supervisor (a refusal is recorded as skipped, not fatal: the
 * run goes on), then a wait until the cluster settled; resolves with the fault's record and the
 * latest status (the one before it when the cluster did not settle, with why).
 */
async function applyAndSettle(
    layout: Layout,
    f: Fault,
    n: number,
    before: StatusView,
    load: HitLoad,
    settleTimeoutMs: number,
): Promise<{ applied: AppliedFault; status: StatusView; unsettled?: string }> {
    const pod = await podToHit(f, before, layout);
    const what = describeFault(f, pod);
    const at = load.now();
    let skipped: string | undefined;
    try {
        await apply(layout, f, pod);
    } catch (e) {
        skipped = (e as Error).message;
    }
    let status = before;
    let unsettled: string | undefined;
    try {
        status = await waitSettled(layout, settleTimeoutMs);
    } catch (e) {
        unsettled = `fault ${n} (${what}): ${(e as Error).message}`;
    }
    const settledAt = unsettled ? undefined : load.now();
    const applied = {
        n,
        what,
        at,
        settledAt,
        longestGapMs: longestGapWithin(load.answers, at, settledAt ?? load.now()),
        skipped,
    };
    return { applied, status, unsettled };
}

/** Pure: the progress line of one fault (when, what, and how it ended). */
function faultLine(f: AppliedFault): string {
    return `  ${(f.at / 1000).toFixed(1).padStart(6)} s  ${f.what.padEnd(44)} ${f.skipped ? `skipped: ${f.skipped}` : f.settledAt ? `settled after ${((f.settledAt - f.at) / 1000).toFixed(1)} s, longest write gap ${f.longestGapMs.toFixed(0)} ms` : "did not settle"}`;
}

/** What the cluster and the load show after the faults: the counter, the load's answers, redis-cli's check, the replica links. */
async function chaosFindings(
    layout: Layout,
    config: ClusterConfig,
    access: NodeAccess,
    pods: readonly PodView[],
    load: HitLoad,
    unsettled: string | undefined,
): Promise<ChaosFindings> {
    const analysis = analyseAnswers(load.answers);
    const finalCounter = await hitsCounter(access, pods);
    return {
        acknowledged: analysis.acknowledged,
        refused: analysis.failed,
        finalCounter,
        lost: acknowledgedHitsLost(analysis, finalCounter),
        repeated: analysis.repeated.length,
        wentBackwards: analysis.wentBackwards.length,
        clusterCheckProblems: clusterCheckProblems(redisCliCheck(redisEndpoint(pods[0].address), access, caFileOf(layout, config))),
        linksDown: await replicaLinksDown(access, pods),
        unsettled,
        loadCapped: load.capped
            ? `the load stopped at its cap of ${load.maxRequests} requests after ${(load.answers[load.answers.length - 1].end / 1000).toFixed(0)} s: a shorter --duration or fewer --clients`
            : undefined,
    };
}

/** Pure: the report and its verdict, from the findings and the faults applied. */
function chaosReport(
    o: ChaosOptions,
    faults: readonly AppliedFault[],
    findings: ChaosFindings,
    answers: readonly HitAnswer[],
): ChaosReport {
    const problems = chaosProblems(findings);
    const applied = faults.filter((f) => !f.skipped);
    return {
        ...findings,
        seed: o.seed,
        durationMs: o.durationMs,
        faults,
        longestGapMs: longestWriteGapMs(answers),
        medianFaultGapMs: median(applied.map((f) => f.longestGapMs)),
        problems,
        verdict: problems.length === 0 ? "pass" : "fail",
    };
}
