/**
 * `npm run bench:failover [-- --runs N --clients N]`
 *
 * Write unavailability of the hit counter (durable mode, WAIT 1) when the master owning `hits` is
 * disrupted under load, through the local pod runtime and its drill (local/drill.ts), each run on
 * a fresh cluster. Disruptions, side by side and interleaved:
 * - machine lost: the master's pod frozen (SIGSTOP, its kubelet too) until a replica took over,
 *   then thawed, at the shipped cluster-node-timeout and at the tutorial's 15000 ms;
 * - container crash: SIGKILL, the kubelet restarts it at once;
 * - pod deleted: it comes back with its data at a new address after the runtime's pod-start delay;
 * - 3x2, machine lost: a second replica confirms writes while the first one takes over.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULT_NODE_TIMEOUT_MS } from "../../components/redisDefaults";
import { median, worst } from "../../lib/stats";
import { DrillMode, DrillReport, runDrill } from "../../local/drill";
import { upCluster } from "../../local/up";

const TUTORIAL_NODE_TIMEOUT_MS = 15000;
const FIRST_BLOCK = 50;

interface Setup {
    readonly label: string;
    readonly mode: DrillMode;
    readonly nodeTimeoutMs: number;
    readonly replicasPerMaster: number;
}

const SETUPS: readonly Setup[] = [
    {
        label: `3x1 machine lost, node timeout ${DEFAULT_NODE_TIMEOUT_MS} (shipped)`,
        mode: "freeze",
        nodeTimeoutMs: DEFAULT_NODE_TIMEOUT_MS,
        replicasPerMaster: 1,
    },
    {
        label: `3x1 machine lost, node timeout ${TUTORIAL_NODE_TIMEOUT_MS} (tutorial)`,
        mode: "freeze",
        nodeTimeoutMs: TUTORIAL_NODE_TIMEOUT_MS,
        replicasPerMaster: 1,
    },
    {
        label: `3x1 container crash (SIGKILL), ${DEFAULT_NODE_TIMEOUT_MS}`,
        mode: "kill",
        nodeTimeoutMs: DEFAULT_NODE_TIMEOUT_MS,
        replicasPerMaster: 1,
    },
    {
        label: `3x1 pod deleted (new address), ${DEFAULT_NODE_TIMEOUT_MS}`,
        mode: "delete",
        nodeTimeoutMs: DEFAULT_NODE_TIMEOUT_MS,
        replicasPerMaster: 1,
    },
    { label: `3x2 machine lost, ${DEFAULT_NODE_TIMEOUT_MS}`, mode: "freeze", nodeTimeoutMs: DEFAULT_NODE_TIMEOUT_MS, replicasPerMaster: 2 },
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
            { dir, masters: 3, replicas: setup.replicasPerMaster, block, nodeTimeoutMs: setup.nodeTimeoutMs, log: quiet },
            { kind: "in-process", log: quiet },
        );
        try {
            return await runDrill(started.layout, { mode: setup.mode, clients, say: quiet });
        } finally {
            await started.supervisor?.stop();
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const ms = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? "never" : `${x.toFixed(0)} ms`);

async function main(): Promise<void> {
    const runs = intArg("runs", 3);
    const clients = intArg("clients", 12);
    console.log(
        `failover benchmark ${new Date().toISOString()}: ${clients} clients, WAIT 1, ${runs} run(s) per setup, interleaved, through the local pod runtime`,
    );
    const results = new Map<Setup, DrillReport[]>();
    for (let run = 1; run <= runs; run++) {
        for (const [i, setup] of SETUPS.entries()) {
            const r = await runOnce(setup, FIRST_BLOCK + i, clients);
            results.set(setup, [...(results.get(setup) ?? []), r]);
            console.log(
                `  run ${run} ${setup.label.padEnd(46)}: window ${ms(r.windowMs)}, longest gap ${ms(r.longestGapMs)}, ` +
                    `replica took over ${ms(r.promotedMs)}, ${r.pod} back as ${r.roleAfter}; acknowledged ${r.acknowledged}, refused ${r.refused}, lost ${r.lost}`,
            );
        }
    }
    console.log(
        "\n| disruption | write-unavailability window: median, worst | longest write gap: median, worst | replica took over, median | acknowledged hits lost |",
    );
    console.log("|---|---|---|---|---|");
    for (const setup of SETUPS) {
        const rs = results.get(setup) ?? [];
        const windows = rs.map((r) => r.windowMs ?? Infinity);
        const gaps = rs.map((r) => r.longestGapMs);
        const promoted = rs.filter((r) => r.promotedMs !== undefined).map((r) => r.promotedMs as number);
        console.log(
            `| ${setup.label} | ${ms(median(windows))}, ${ms(worst(windows))} | ${ms(median(gaps))}, ${ms(worst(gaps))} | ` +
                `${promoted.length ? `${ms(median(promoted))} (${promoted.length}/${rs.length} runs)` : "none"} | ${rs.reduce((n, r) => n + r.lost, 0)} |`,
        );
    }
}

main().catch((err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
});
