/**
 * The plan at preview, pure: what an update of the formation would do, computed from the state the
 * last update or refresh recorded (its shard map) and the new inputs — no cluster is contacted, so a
 * read-only preview (a pull request's, with viewer credentials) shows it too. The same planners then
 * run against the live cluster before acting, and log their plan again.
 */
import * as shape from "../shape";
import { NodeView, parseClusterNodes } from "./clusterState";
import { liveRequest } from "./live";
import { PlanNode } from "./placement";
import { planRun } from "./plan";
import { planDrain } from "./planDrain";
import type { LiveOutputs, MemberOutput, PodClusterInputs } from "./podCluster";
import { renderPlan } from "./renderPlan";
import { formatRanges } from "./slots";

/** A member as the preview names it: `<pod>:<port>`, so the plan reads in pod names. */
const previewAddress = (pod: string, port: number) => `${pod}:${port}`;

/** Views of a formed cluster as its shard map describes it: every member knows every other. */
export function viewsFromShards(shards: LiveOutputs["shards"], port: number): NodeView[] {
    const members = shards.flatMap((s) => [
        { m: s.master, line: (myself: boolean) => line(s.master, myself, undefined, formatRanges(s.slots).replace(/,/g, " ")) },
        ...s.replicas.map((r) => ({ m: r, line: (myself: boolean) => line(r, myself, idOf(s.master), "") })),
    ]);
    function line(m: MemberOutput, myself: boolean, masterId: string | undefined, slots: string): string {
        const role = `${myself ? "myself," : ""}${masterId ? "slave" : "master"}`;
        return `${idOf(m)} ${previewAddress(m.pod, port)}@${shape.busPort(port)} ${role} ${masterId ?? "-"} 0 0 0 connected ${slots}`.trim();
    }
    return members.map(({ m, line: own }) => {
        const entries = parseClusterNodes([own(true), ...members.filter((o) => o.m !== m).map((o) => o.line(false))].join("\n"));
        return {
            address: previewAddress(m.pod, port),
            self: entries[0],
            peers: entries.slice(1),
            keys: 0,
            nodeTimeoutMs: 0,
            noFailover: false,
            strayImportKeys: new Map(),
        };
    });
}

/** A state recorded before node ids were, names its nodes by pod. */
const idOf = (m: MemberOutput) => m.id ?? m.pod;

/** A fresh pod the StatefulSet is about to add, as the preview sees it. */
function freshView(pod: string, port: number): NodeView {
    const [self] = parseClusterNodes(`${pod} ${previewAddress(pod, port)}@${shape.busPort(port)} myself,master - 0 0 0 connected`);
    return {
        address: previewAddress(pod, port),
        self,
        peers: [],
        keys: 0,
        nodeTimeoutMs: 0,
        noFailover: false,
        strayImportKeys: new Map(),
    };
}

/**
 * The lines to show at preview for an update from `olds` (the recorded outputs) to `news`: the plan of
 * a scale-out or scale-in, or the converge plan the last refresh recorded; empty when there is none.
 */
export function previewPlan(olds: Partial<PodClusterInputs & LiveOutputs>, news: Partial<PodClusterInputs>): string[] {
    const { masters, replicasPerMaster, statefulSetName } = news;
    if (!Number.isInteger(masters) || !Number.isInteger(replicasPerMaster) || typeof statefulSetName !== "string") return [];
    const shards = olds.shards ?? [];
    if (shards.length === 0) return [];
    const port = news.port ?? olds.port ?? shape.CLIENT_PORT;
    const shapeChanged = olds.masters !== masters || olds.replicasPerMaster !== replicasPerMaster;
    if (!shapeChanged) return olds.converge ? [...olds.converge] : [];
    const views = viewsFromShards(shards, port);
    const placeOf = new Map(shards.flatMap((s) => [s.master, ...s.replicas]).map((m) => [previewAddress(m.pod, port), m]));
    const planNode = (address: string): PlanNode => {
        const m = placeOf.get(address);
        return { address, ...(m?.k8sNode ? { k8sNode: m.k8sNode } : {}), ...(m?.zone ? { zone: m.zone } : {}) };
    };
    const ordinal = (v: NodeView) => shape.podOrdinal(statefulSetName, v.address.split(":")[0]) ?? Number.MAX_SAFE_INTEGER;
    const wanted = shape.podCount({ masters: masters!, replicasPerMaster: replicasPerMaster! });
    const request = (nodes: readonly NodeView[]) =>
        liveRequest(
            nodes.map((v) => planNode(v.address)),
            masters!,
            replicasPerMaster!,
        );
    try {
        if (wanted < views.length) {
            const leaving = views.filter((v) => ordinal(v) >= wanted).map((v) => v.address);
            const drain = planDrain(views, { ...request(views), leaving });
            const pods = leaving.map((a) => a.split(":")[0]);
            // The new surge ordinal's pod is drained too, but the StatefulSet keeps it (one pod beyond the shape).
            const surge = news.surgeReplica ? shape.podName(statefulSetName, wanted) : undefined;
            const removed = pods.filter((p) => p !== surge);
            return [
                ...renderPlan(drain).split("\n"),
                ...(surge && pods.includes(surge)
                    ? [`then ${surge} leaves the cluster (every node forgets it at once, CLUSTER RESET on it) and stays as the surge pod`]
                    : []),
                ...(removed.length
                    ? [`then the StatefulSet removes ${removed.join(", ")}, and every remaining node forgets them at once (CLUSTER FORGET)`]
                    : []),
            ];
        }
        const fresh = Array.from({ length: wanted - views.length }, (_, i) =>
            freshView(shape.podName(statefulSetName, views.length + i), port),
        );
        const all = [...views, ...fresh];
        return renderPlan(planRun(all, request(all))).split("\n");
    } catch (e) {
        return [`the update would be refused: ${(e as Error).message}`];
    }
}
