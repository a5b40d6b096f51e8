/**
 * `npm run local -- scale` and the drift in `status`: the same code as on Kubernetes, over the direct
 * transport, in the same order as `pulumi up` — the pods a smaller shape removes are drained first
 * (components/formation/scaleIn.ts), then the supervisor (the StatefulSet controller) removes or adds
 * pods, then the formation joins the new ones or makes every node forget the removed ones; and the
 * drift `status` reports is the formation's read (components/formation/live.ts).
 */
import { FormNode, form } from "../components/formation/form";
import { LiveReport, liveReport, liveRequest, readLiveCluster } from "../components/formation/live";
import { drainLeaving } from "../components/formation/scaleIn";
import { DirectTransport } from "../components/formation/transport";
import { shapeProblems, podCount, podOrdinal, ClusterShape } from "../components/shape";
import { REDIS_NAME } from "../components/stack";
import { waitUntil } from "../lib/poll";
import { Layout } from "./layout";
import { ScaleResult, StatusView, call } from "./protocol";
import { redisEndpoint } from "./rules";
import { ClusterConfig, accessOf, readConfig, writeConfig } from "./state";
import { waitReplicasFor } from "../components/app/hitCounter";

export interface ScaleSummary extends ScaleResult {
    readonly from: ClusterShape;
    readonly to: ClusterShape;
    readonly drained: readonly string[];
    readonly report: LiveReport;
}

function configOf(layout: Layout): ClusterConfig {
    const config = readConfig(layout);
    if (!config) throw new Error(`--dir: no local cluster in ${layout.dir}`);
    return config;
}

const nodeOf = (address: string): FormNode => ({ address: redisEndpoint(address), target: redisEndpoint(address) });
const ordinal = (pod: string) => podOrdinal(REDIS_NAME, pod) ?? Number.MAX_SAFE_INTEGER;

/** Drain, resize, form: see the module comment. The new shape is recorded in DIR once formed. */
export async function scaleCluster(layout: Layout, want: Partial<ClusterShape>, log: (line: string) => void): Promise<ScaleSummary> {
    const config = configOf(layout);
    const from = { masters: config.masters, replicasPerMaster: config.replicasPerMaster };
    const to = { masters: want.masters ?? from.masters, replicasPerMaster: want.replicasPerMaster ?? from.replicasPerMaster };
    const problems = shapeProblems(to);
    if (problems.length)
        throw new Error(problems.map((p) => `--${p.field === "masters" ? "masters" : "replicas"}: ${p.reason}`).join("; "));
    const transport = new DirectTransport(accessOf(layout, config));
    try {
        const before = (await call<StatusView>(layout, { verb: "status" })).pods;
        const count = podCount(to);
        const leaving = before.filter((p) => ordinal(p.name) >= count);
        const common = { masters: to.masters, replicasPerMaster: to.replicasPerMaster, transport };
        if (leaving.length) {
            log(`[scale-in] draining ${leaving.map((p) => p.name).join(", ")} before they are removed`);
            await drainLeaving({
                ...common,
                nodes: before.map((p) => nodeOf(p.address)),
                leaving: leaving.map((p) => redisEndpoint(p.address)),
                log: (l) => log(`[scale-in] ${l}`),
            });
        }
        const changed = await call<ScaleResult>(layout, { verb: "scale", replicas: count });
        let pods: StatusView["pods"] = [];
        await waitUntil(
            `${count} Redis pods started`,
            async () => {
                pods = (await call<StatusView>(layout, { verb: "status" })).pods;
                const waiting = pods.filter((p) => !p.started).map((p) => p.name);
                return pods.length === count && waiting.length === 0 ? undefined : `not started: ${waiting.join(", ") || "(none yet)"}`;
            },
            { timeoutMs: 60_000 + 1000 * count, intervalMs: 200 },
        );
        await form({ ...common, nodes: pods.map((p) => nodeOf(p.address)), log: (l) => log(`[formation] ${l}`) });
        writeConfig(layout, { ...config, ...to, app: { ...config.app, waitReplicas: waitReplicasFor(to.replicasPerMaster) } });
        return { ...changed, from, to, drained: leaving.map((p) => p.name), report: await readReport(layout, transport, pods) };
    } finally {
        await transport.close();
    }
}

/** The formation's read of the local cluster (drift and the converge plan), for `status`. */
export async function liveStatus(layout: Layout, pods: StatusView["pods"]): Promise<LiveReport> {
    const transport = new DirectTransport(accessOf(layout, configOf(layout)), 1000);
    try {
        return await readReport(layout, transport, pods);
    } finally {
        await transport.close();
    }
}

async function readReport(layout: Layout, transport: DirectTransport, pods: StatusView["pods"]): Promise<LiveReport> {
    const config = configOf(layout);
    const nodes = pods.map((p) => nodeOf(p.address));
    const live = await readLiveCluster(transport, nodes);
    const label = (address: string) => {
        const pod = pods.find((p) => redisEndpoint(p.address) === address);
        return pod ? `${pod.name} (${address})` : address;
    };
    return liveReport(live, liveRequest(nodes, config.masters, config.replicasPerMaster), label);
}
