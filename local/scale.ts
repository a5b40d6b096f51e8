/**
 * `npm run local -- scale` and the drift in `status`: the same code as on Kubernetes, over the direct
 * transport, in the same order as `pulumi up` — the pods a smaller shape removes are drained first
 * (components/formation/scaleIn.ts), then the supervisor (the StatefulSet controller) removes or adds
 * pods, then the formation joins the new ones or makes every node forget the removed ones; and the
 * drift `status` reports is the formation's read (components/formation/live.ts). The members are the
 * pods of the shape; the StatefulSet may run the surge pod beyond them (components/shape.ts), which the
 * drain, the formation and the drift leave out, and whose name the ConfigMap says again for the new shape.
 */
import { FormNode, form } from "../components/formation/form";
import { LiveReport, liveReport, liveRequest, readLiveCluster } from "../components/formation/live";
import { leavingPods } from "../components/formation/podCluster";
import { drainLeaving } from "../components/formation/scaleIn";
import { DirectTransport } from "../components/formation/transport";
import { shapeProblems, ClusterShape, statefulSetReplicas, surgePodOf } from "../components/shape";
import { renderConfigMap } from "../components/redis/manifests";
import { REDIS_NAME } from "../components/stack";
import { waitUntil } from "../lib/poll";
import { Layout, writeJson } from "./layout";
import { ScaleResult, StatusView, call } from "./protocol";
import { memberPods, redisEndpoint } from "./rules";
import { localManifestOptions, localSettings } from "./objects";
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

/** Drain, resize, form: see the module comment. The new shape is recorded in DIR once formed. */
export async function scaleCluster(layout: Layout, want: Partial<ClusterShape>, log: (line: string) => void): Promise<ScaleSummary> {
    const config = configOf(layout);
    const from = { masters: config.masters, replicasPerMaster: config.replicasPerMaster };
    const to = { masters: want.masters ?? from.masters, replicasPerMaster: want.replicasPerMaster ?? from.replicasPerMaster };
    const problems = shapeProblems(to);
    if (problems.length)
        throw new Error(problems.map((p) => `--${p.field === "masters" ? "masters" : "replicas"}: ${p.reason}`).join("; "));
    const next: ClusterConfig = { ...config, ...to, app: { ...config.app, waitReplicas: waitReplicasFor(to.replicasPerMaster) } };
    // The new shape's settings, checked before anything changes (a recorded surge choice may not fit it).
    const settings = localSettings(next);
    const surge = settings.redis.surgeReplica;
    const transport = new DirectTransport(accessOf(layout, config));
    try {
        const before = (await call<StatusView>(layout, { verb: "status" })).pods;
        // The same rule as the drain resource: the new surge ordinal's pod is drained, then released, and stays.
        const { leaving, release } = leavingPods({ statefulSetName: REDIS_NAME, surgeReplica: surge, ...to }, before, from);
        const common = { masters: to.masters, replicasPerMaster: to.replicasPerMaster, transport };
        if (leaving.length) {
            log(`[scale-in] draining ${leaving.map((p) => p.name).join(", ")} before they are removed`);
            await drainLeaving({
                ...common,
                nodes: before.map((p) => nodeOf(p.address)),
                leaving: leaving.map((p) => redisEndpoint(p.address)),
                ...(release ? { release: redisEndpoint(release.address) } : {}),
                log: (l) => log(`[scale-in] ${l}`),
            });
        }
        // As `pulumi up` applies the ConfigMap (the surge pod's name) before the StatefulSet's new replicas.
        writeJson(layout.objectFile("configmap"), renderConfigMap(localManifestOptions(settings)));
        const replicas = statefulSetReplicas(to, surge);
        const changed = await call<ScaleResult>(layout, { verb: "scale", replicas });
        let pods: StatusView["pods"] = [];
        await waitUntil(
            `${replicas} Redis pods started`,
            async () => {
                pods = (await call<StatusView>(layout, { verb: "status" })).pods;
                const waiting = pods.filter((p) => !p.started).map((p) => p.name);
                return pods.length === replicas && waiting.length === 0 ? undefined : `not started: ${waiting.join(", ") || "(none yet)"}`;
            },
            { timeoutMs: 60_000 + 1000 * replicas, intervalMs: 200 },
        );
        const { members, surgePod } = splitSurge(pods, to, surge);
        await form({
            ...common,
            nodes: members.map((p) => nodeOf(p.address)),
            ...(surgePod ? { surge: nodeOf(surgePod.address) } : {}),
            log: (l) => log(`[formation] ${l}`),
        });
        writeConfig(layout, next);
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

/** The shape's pods, and the surge pod (never a member) when the cluster runs one. */
function splitSurge(
    pods: StatusView["pods"],
    shape: ClusterShape,
    surge: boolean,
): { members: StatusView["pods"]; surgePod?: StatusView["pods"][number] } {
    const members = memberPods(REDIS_NAME, pods, shape);
    const surgePod = surgePodOf(REDIS_NAME, pods, shape, surge);
    return { members, ...(surgePod ? { surgePod } : {}) };
}

async function readReport(layout: Layout, transport: DirectTransport, pods: StatusView["pods"]): Promise<LiveReport> {
    const config = configOf(layout);
    const { members, surgePod } = splitSurge(pods, config, localSettings(config).redis.surgeReplica);
    const nodes = members.map((p) => nodeOf(p.address));
    const live = await readLiveCluster(transport, nodes, surgePod ? nodeOf(surgePod.address) : undefined);
    const label = (address: string) => {
        const pod = pods.find((p) => redisEndpoint(p.address) === address);
        return pod ? `${pod.name} (${address})` : address;
    };
    return liveReport(live, liveRequest(nodes, config.masters, config.replicasPerMaster), label);
}
