/**
 * `npm run bench:failover [-- --runs N --clients N --only SUBSTRING]`
 *
 * Write unavailability of the hit counter (durable mode, WAIT 1) when the master owning `hits` is
 * disrupted under load, through the local pod runtime and its drill (local/drill.ts), each run on
 * a fresh cluster, the setups side by side and interleaved. Each setup against its anchor:
 * - crash (SIGKILL; the kubelet restarts it at once): the failover agent's takeover vs Redis alone,
 *   at the same node timeout; and the takeover once more right after a rolling restart;
 * - freeze (SIGSTOP of the whole pod, its kubelet too: a lost VM or a partition) until a replica
 *   took over, then thawed: the agent's held election (Redis's FAIL, then the election at once) vs
 *   Redis alone at the shipped node timeout, and at 1000 ms;
 * - rolling restart of every pod (an image change; each pod back after the runtime's 5 s pod-start
 *   delay, Ready before the next): with the preStop handover (and at 3x1 the surge pod, and without
 *   it) vs a plain rolling restart (neither handover nor agent nor surge pod, as the Bitnami chart does);
 * - 3x2: crash and freeze (held election vs Redis alone).
 * Goals (issue 15): crash <= 1 s (worst run); rolling restart <= 0.5 s max gap and < 1/5 of the plain
 * restart's total unavailability; freeze <= 1.5 x node timeout + 1.5 s; 0 acknowledged hits lost.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULT_NODE_TIMEOUT_MS } from "../../components/redisDefaults";
import { median, worst } from "../../lib/stats";
import { DrillMode, DrillReport, UNAVAILABLE_GAP_MS, runDrill } from "../../local/drill";
import { upCluster } from "../../local/up";
import { BENCH_BLOCKS } from "../blocks";

const SHORT_NODE_TIMEOUT_MS = 1000;
/**
 * A whole rolling restart of 9 pods under 12 clients answered about 200,000 requests on busy cores and
 * over 1,000,000 on idle ones (2026-12-01, when this cap stopped a run): room for it, a few hundred MB of
 * answers at most (a capped load fails the run rather than hide the gaps after the cap).
 */
const MAX_REQUESTS = 5_000_000;
/** Setups take these blocks in turn; a run stops every process of its block before the next starts, so two setups may share one. */
const BLOCKS = BENCH_BLOCKS.failover;

interface Setup {
    readonly label: string;
    readonly mode: DrillMode;
    readonly nodeTimeoutMs: number;
    readonly replicasPerMaster: number;
    /** The preStop handover and the failover agent (both on, as shipped, unless said otherwise). */
    readonly handover: boolean;
    readonly takeover: boolean;
    /** The surge pod (shipped with one replica per master unless said otherwise). */
    readonly surgeReplica?: boolean;
    /**
     * A rolling restart under load first (its report set aside), as after an image change: the AOFs
     * have grown and every pod is at a new address. A crash on a fresh cluster hides what depends on
     * that (a restarted master still loading its AOF when the clients reconnect).
     */
    readonly afterRoll?: boolean;
}

const shipped = { nodeTimeoutMs: DEFAULT_NODE_TIMEOUT_MS, handover: true, takeover: true } as const;
const SETUPS: readonly Setup[] = [
    { label: `3x1 crash, takeover (shipped), ${DEFAULT_NODE_TIMEOUT_MS} ms`, mode: "kill", replicasPerMaster: 1, ...shipped },
    {
        label: `3x1 crash, Redis alone (no agent), ${DEFAULT_NODE_TIMEOUT_MS} ms`,
        mode: "kill",
        replicasPerMaster: 1,
        ...shipped,
        takeover: false,
    },
    {
        label: `3x1 crash after a rolling restart, takeover (shipped), ${DEFAULT_NODE_TIMEOUT_MS} ms`,
        mode: "kill",
        replicasPerMaster: 1,
        ...shipped,
        afterRoll: true,
    },
    {
        label: `3x1 freeze, held election (shipped), node timeout ${DEFAULT_NODE_TIMEOUT_MS} ms`,
        mode: "freeze",
        replicasPerMaster: 1,
        ...shipped,
    },
    {
        label: `3x1 freeze, Redis alone (no agent), node timeout ${DEFAULT_NODE_TIMEOUT_MS} ms`,
        mode: "freeze",
        replicasPerMaster: 1,
        ...shipped,
        takeover: false,
    },
    {
        label: `3x1 freeze, node timeout ${SHORT_NODE_TIMEOUT_MS} ms`,
        mode: "freeze",
        replicasPerMaster: 1,
        ...shipped,
        nodeTimeoutMs: SHORT_NODE_TIMEOUT_MS,
    },
    { label: "3x2 rolling restart, handover (shipped)", mode: "roll", replicasPerMaster: 2, ...shipped },
    {
        label: "3x2 rolling restart, plain (no handover, no agent)",
        mode: "roll",
        replicasPerMaster: 2,
        ...shipped,
        handover: false,
        takeover: false,
    },
    { label: "3x1 rolling restart, handover and surge pod (shipped)", mode: "roll", replicasPerMaster: 1, ...shipped },
    { label: "3x1 rolling restart, handover without surge pod", mode: "roll", replicasPerMaster: 1, ...shipped, surgeReplica: false },
    {
        label: "3x1 rolling restart, plain (no handover, no agent, no surge pod)",
        mode: "roll",
        replicasPerMaster: 1,
        ...shipped,
        handover: false,
        takeover: false,
        surgeReplica: false,
    },
    { label: `3x2 crash, takeover (shipped), ${DEFAULT_NODE_TIMEOUT_MS} ms`, mode: "kill", replicasPerMaster: 2, ...shipped },
    {
        label: `3x2 freeze, held election (shipped), node timeout ${DEFAULT_NODE_TIMEOUT_MS} ms`,
        mode: "freeze",
        replicasPerMaster: 2,
        ...shipped,
    },
    {
        label: `3x2 freeze, Redis alone (no agent), node timeout ${DEFAULT_NODE_TIMEOUT_MS} ms`,
        mode: "freeze",
        replicasPerMaster: 2,
        ...shipped,
        takeover: false,
    },
];

function intArg(name: string, fallback: number): number {
    const i = process.argv.indexOf(`--${name}`);
    const raw = i >= 0 ? process.argv[i + 1] : String(fallback);
    if (!/^\d+$/.test(raw ?? "") || Number(raw) < 1) throw new Error(`--${name}: expected a positive integer, got ${JSON.stringify(raw)}`);
    return Number(raw);
}

/** One run: a fresh cluster of local pods (its supervisor in this process), the drill, then everything stopped and removed. */
async function runOnce(setup: Setup, block: number, clients: number): Promise<DrillReport> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-failover-"));
    const quiet = () => undefined;
    try {
        const started = await upCluster(
            {
                dir,
                masters: 3,
                replicas: setup.replicasPerMaster,
                block,
                nodeTimeoutMs: setup.nodeTimeoutMs,
                handover: setup.handover,
                takeover: setup.takeover,
                ...(setup.surgeReplica !== undefined ? { surgeReplica: setup.surgeReplica } : {}),
                log: quiet,
            },
            { kind: "in-process", log: quiet },
        );
        try {
            const drill = (mode: DrillMode) => runDrill(started.layout, { mode, clients, maxRequests: MAX_REQUESTS, say: quiet });
            if (setup.afterRoll) await drill("roll");
            return await drill(setup.mode);
        } finally {
            await started.supervisor?.stop();
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "never" : `${x.toFixed(0)} ms`);

function stringArg(name: string): string | undefined {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
    const runs = intArg("runs", 3);
    const clients = intArg("clients", 12);
    const only = stringArg("only");
    const setups = SETUPS.filter((s) => only === undefined || s.label.includes(only));
    if (setups.length === 0) throw new Error(`--only: no setup label contains ${JSON.stringify(only)}`);
    console.log(
        `failover benchmark ${new Date().toISOString()}: ${clients} clients, WAIT 1, ${runs} run(s) per setup, interleaved, through the local pod runtime`,
    );
    const results = new Map<Setup, DrillReport[]>();
    for (let run = 1; run <= runs; run++) {
        for (const setup of setups) {
            const r = await runOnce(setup, BLOCKS[SETUPS.indexOf(setup) % BLOCKS.length], clients);
            results.set(setup, [...(results.get(setup) ?? []), r]);
            console.log(
                `  run ${run} ${setup.label.padEnd(64)}: longest gap ${ms(r.longestGapMs)}, unavailable ${ms(r.unavailableMs)}, ` +
                    `replica took over ${ms(r.promotedMs)}, ${r.pod} back as ${r.roleAfter}; acknowledged ${r.acknowledged}, refused ${r.refused}, lost ${r.lost}`,
            );
        }
    }
    console.log(
        `\n| disruption | max write gap (worst run) | median of the runs' max gap | unavailable in all (gaps >= ${UNAVAILABLE_GAP_MS} ms), median | a replica took over, median | acknowledged hits lost |`,
    );
    console.log("|---|---|---|---|---|---|");
    for (const setup of setups) {
        const rs = results.get(setup) ?? [];
        const gaps = rs.map((r) => r.longestGapMs);
        const promoted = rs.filter((r) => r.promotedMs !== undefined).map((r) => r.promotedMs as number);
        console.log(
            `| ${setup.label} | ${ms(worst(gaps))} | ${ms(median(gaps))} | ${ms(median(rs.map((r) => r.unavailableMs)))} | ` +
                `${promoted.length ? `${ms(median(promoted))} (${promoted.length}/${rs.length} runs)` : "none"} | ${rs.reduce((n, r) => n + r.lost, 0)} |`,
        );
    }
}

main().catch((err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
});
