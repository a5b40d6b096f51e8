/**
 * `npm run bench:failover [-- --runs N --timeouts 1000,15000 --clients 12]`
 *
 * Write-unavailability window of the hit counter (durable mode, WAIT 1) when the master
 * owning `hits` is SIGKILLed under load, with the shipped cluster-node-timeout and with
 * the tutorial's 15000, measured side by side in the same run. Shape 3 masters x 1
 * replica (the shipped default): the killed node is restarted once its replica took
 * over, as the kubelet would, because until a replica is back WAIT cannot succeed.
 * One more row: 3 x 2 with the shipped timeout, where the surviving replica makes
 * durable writes resume right at the promotion, without the restart.
 */
import { DEFAULT_NODE_TIMEOUT_MS } from "../../components/redisDefaults";
import { FailoverResult, runFailover } from "./scenario";

const TUTORIAL_NODE_TIMEOUT_MS = 15000;

interface Setup {
    readonly label: string;
    readonly nodeTimeoutMs: number;
    readonly replicasPerMaster: number;
    readonly rejoinKilled: boolean;
}

function arg(name: string, fallback: string): string {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const lostOf = (r: FailoverResult) => Math.max(0, r.maxCount - r.finalCounter) + r.repeated.length + r.wentBackwards.length;

async function main(): Promise<void> {
    const runs = Number(arg("runs", "3"));
    const clients = Number(arg("clients", "12"));
    const timeouts = arg("timeouts", `${DEFAULT_NODE_TIMEOUT_MS},${TUTORIAL_NODE_TIMEOUT_MS}`).split(",").map(Number);
    if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: expected a positive integer, got ${arg("runs", "")}`);
    if (!Number.isInteger(clients) || clients < 1) throw new Error(`--clients: expected a positive integer, got ${arg("clients", "")}`);
    if (timeouts.some((t) => !Number.isInteger(t) || t < 100)) throw new Error(`--timeouts: expected comma-separated integers >= 100 (ms)`);
    const setups: Setup[] = [
        ...timeouts.map((t) => ({ label: `3x1, node-timeout ${t}`, nodeTimeoutMs: t, replicasPerMaster: 1, rejoinKilled: true })),
        {
            label: `3x2, node-timeout ${DEFAULT_NODE_TIMEOUT_MS}`,
            nodeTimeoutMs: DEFAULT_NODE_TIMEOUT_MS,
            replicasPerMaster: 2,
            rejoinKilled: false,
        },
    ];

    console.log(`failover benchmark ${new Date().toISOString()}: ${clients} clients, WAIT 1, ${runs} run(s) per setup, interleaved`);
    const results = new Map<Setup, FailoverResult[]>();
    for (let run = 1; run <= runs; run++) {
        for (const [i, s] of setups.entries()) {
            const r = await runFailover({
                block: 50 + i,
                nodeTimeoutMs: s.nodeTimeoutMs,
                replicasPerMaster: s.replicasPerMaster,
                rejoinKilled: s.rejoinKilled,
                clients,
                recoveryTimeoutMs: s.nodeTimeoutMs * 3 + 20_000,
            });
            results.set(s, [...(results.get(s) ?? []), r]);
            console.log(
                `  run ${run} ${s.label.padEnd(24)}: writes unavailable ${r.unavailableMs?.toFixed(0) ?? "never recovered"} ms ` +
                    `(replica promoted after ${r.promotedMs?.toFixed(0) ?? "?"} ms), acknowledged ${r.acknowledged}, refused ${r.failed}, ` +
                    `acknowledged hits lost ${lostOf(r)}`,
            );
        }
    }
    console.log("\n| setup | write-unavailability window, median (min-max) | replica promoted, median | acknowledged hits lost |");
    console.log("|---|---|---|---|");
    for (const s of setups) {
        const rs = results.get(s) ?? [];
        const windows = rs.map((r) => r.unavailableMs ?? Infinity);
        console.log(
            `| ${s.label} | ${median(windows).toFixed(0)} ms (${Math.min(...windows).toFixed(0)}-${Math.max(...windows).toFixed(0)}) | ` +
                `${median(rs.map((r) => r.promotedMs ?? Infinity)).toFixed(0)} ms | ${rs.reduce((n, r) => n + lostOf(r), 0)} |`,
        );
    }
    const windowOf = (t: number) => {
        const s = setups.find((x) => x.nodeTimeoutMs === t && x.replicasPerMaster === 1);
        return s ? median((results.get(s) ?? []).map((r) => r.unavailableMs ?? Infinity)) : undefined;
    };
    const shipped = windowOf(DEFAULT_NODE_TIMEOUT_MS);
    const tutorial = windowOf(TUTORIAL_NODE_TIMEOUT_MS);
    if (shipped !== undefined && tutorial !== undefined) {
        console.log(
            `\nshipped default (${DEFAULT_NODE_TIMEOUT_MS} ms) vs tutorial (${TUTORIAL_NODE_TIMEOUT_MS} ms): window ${(tutorial / shipped).toFixed(1)}x shorter; ` +
                `goal <= 3000 ms: ${shipped <= 3000 ? "met" : "NOT met"}`,
        );
    }
}

main().catch((err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
});
