/**
 * The live cluster, read only: what `pulumi refresh` (the formation's read), the outputs after every
 * update and `npm run local -- status` report. One read of every node (a node that cannot be read is
 * reported, not fatal), the shard map as the nodes say it now (roles after failovers), placement
 * re-evaluated, the drift, and the phases the next update would run to converge — from the same pure
 * planners the update runs, so what refresh announces is what up does.
 */
import { NodeView, ShardInfo, clusterStateOf, placementWarnings, shardMap } from "./clusterState";
import * as cmd from "./commands";
import { FORMATION_DEFAULTS } from "./defaults";
import { DriftItem, driftOf } from "./drift";
import { inspectReachable, readSurge } from "./observe";
import { PlanNode, zonesVary } from "./placement";
import { FormationRefused, PlanRequest, planRun } from "./plan";
import { renderPlan } from "./renderPlan";
import { Surge, surgeFree, surgeServing, withoutSurge } from "./surge";
import { NodeTarget, Transport } from "./transport";

/** One read of every node. */
export interface LiveCluster {
    readonly views: readonly NodeView[];
    readonly unreachable: readonly { readonly address: string; readonly error: string }[];
    /** cluster_state by address (`unknown` where CLUSTER INFO failed). */
    readonly states: readonly (readonly [string, string])[];
    /** The surge pod's node (never among the nodes read): views still show it; the report leaves it out (surge.ts). */
    readonly surge?: Surge;
}

/** Reads every node once (CLUSTER NODES, DBSIZE, CONFIG GET, CLUSTER INFO), and the surge pod's own line; sends nothing that changes anything. */
export async function readLiveCluster(transport: Transport, nodes: readonly NodeTarget[], surge?: NodeTarget): Promise<LiveCluster> {
    const { views, unreachable } = await inspectReachable(transport, nodes);
    const byAddress = new Map(nodes.map((n) => [n.address, n]));
    const states = await Promise.all(
        views.map(async (v) => {
            const info = await cmd.send(transport, byAddress.get(v.address)!, cmd.clusterInfo()).catch(() => "");
            return [v.address, clusterStateOf(info)] as const;
        }),
    );
    return { views, unreachable, states, ...(surge ? { surge: await readSurge(transport, surge) } : {}) };
}

/** What a live read says, by address. */
export interface LiveReport {
    /** Masters by first slot, each with its replicas, as every node says of itself now. */
    readonly shards: ShardInfo[];
    readonly placementWarnings: string[];
    /** "ok" when every node says so; else the first other state, or "unreachable". */
    readonly clusterState: string;
    readonly drift: DriftItem[];
    /** The phases the next update would run (its plan's lines), or why it would refuse; empty when none. */
    readonly converge: string[];
}

/** The report of a live read against the requested shape. Pure. */
export function liveReport(live: LiveCluster, req: PlanRequest, label?: (address: string) => string): LiveReport {
    const placeOf = new Map(req.nodes.map((n) => [n.address, n]));
    // A surge serving slots is reported, not fatal: a read must show the cluster whatever it is doing.
    const serving = surgeServing(live.views, live.surge);
    const views = withoutSurge(live.views, live.surge);
    const shards = shardMap(
        views.map((v) => v.self),
        (a) => placeOf.get(a),
    );
    const notOk = live.states.find(([, st]) => st !== "ok");
    return {
        shards,
        placementWarnings: placementWarnings(shards, zonesVary(req.nodes)),
        clusterState: notOk ? notOk[1] : live.unreachable.length ? "unreachable" : "ok",
        drift: driftOf({
            ...live,
            views,
            masters: req.masters,
            replicasPerMaster: req.replicasPerMaster,
            nodes: req.nodes,
            label,
            ...(serving && live.surge ? { surgeServing: { address: live.surge.address, message: serving } } : {}),
        }),
        converge: convergeOutlook(live, req),
    };
}

/**
 * What the next update would do to converge: the plan's lines as the update would log them, or why it
 * would refuse or wait. Empty when the cluster has the requested shape and nothing to repair.
 */
export function convergeOutlook(live: LiveCluster, req: PlanRequest): string[] {
    if (live.unreachable.length) {
        return [`wait until ${live.unreachable.map((u) => u.address).join(", ")} can be read again, then plan`];
    }
    try {
        const plan = planRun(surgeFree(live.views, live.surge), req);
        return plan.outcome === "unchanged" ? [] : renderPlan(plan).split("\n");
    } catch (e) {
        return [`${e instanceof FormationRefused ? "refused" : "cannot plan"}: ${(e as Error).message}`];
    }
}

/** The plan request of a live read: the nodes that should be in the cluster, with the engine's defaults. */
export function liveRequest(nodes: readonly PlanNode[], masters: number, replicasPerMaster: number): PlanRequest {
    return {
        nodes,
        masters,
        replicasPerMaster,
        largeClusterNodes: FORMATION_DEFAULTS.largeClusterNodes,
        formationNodeTimeoutMs: FORMATION_DEFAULTS.formationNodeTimeoutMs,
    };
}

/** The shape a cluster has now: its slot-owning masters, and the replicas its nodes leave each of them (views without the surge). Pure. */
export function liveShape(views: readonly NodeView[]): { masters: number; replicasPerMaster: number } {
    const masters = views.filter((v) => v.self.slotCount > 0 && v.self.masterId === undefined).length;
    return { masters, replicasPerMaster: masters ? Math.floor((views.length - masters) / masters) : 0 };
}
