/**
 * The scale-in drain engine: before the StatefulSet removes its highest pods, everything the cluster
 * needs is moved off them, in rounds of the same five stages as a formation:
 *
 *   inspect (with INFO memory) -> plan (planDrain.ts, pure) -> log the plan -> act (execute.ts)
 *   -> wait until formed, then inspect again: drained, or another round
 *
 * Drained = the leaving nodes own no slots, no staying node replicates one of them, they can no longer
 * be promoted, and every staying master has its replicas among the staying nodes. Once their pods are
 * gone, the formation (form.ts) makes every node forget them.
 */
import { podCount } from "../shape";
import { NodeView } from "./clusterState";
import { FORMATION_DEFAULTS } from "./defaults";
import { runPhases } from "./execute";
import { FormNode, FormOptions, actContext, planRequest } from "./form";
import { inspect, waitUntilFormed } from "./observe";
import { planOpenSlots } from "./planExisting";
import { drainPending, planDrain } from "./planDrain";
import { membership, refuseForeign } from "./plan";
import { planRelease } from "./planRelease";
import { renderPlan } from "./renderPlan";

export interface DrainOptions extends FormOptions {
    /** Every current node, the leaving ones included. */
    readonly nodes: readonly FormNode[];
    /** Addresses of the nodes whose pods are about to be removed. */
    readonly leaving: readonly string[];
    /**
     * The one of `leaving` whose pod stays: the new surge pod of a smaller shape (shape.ts surgeOrdinal).
     * Drained like the others, then released from the cluster (planRelease.ts).
     */
    readonly release?: string;
}

export interface DrainResult {
    /** The nodes drained, by address. */
    readonly drained: readonly string[];
    /** Rounds of planning and acting it took (1 normally). */
    readonly rounds: number;
}

/** Drains `o.leaving` (see the module comment); throws FormationRefused, before acting, where it cannot be safe. */
export async function drainLeaving(o: DrainOptions): Promise<DrainResult> {
    if (o.release !== undefined && !o.leaving.includes(o.release)) throw new Error(`release: ${o.release} is not among the leaving nodes`);
    const unknown = o.leaving.filter((a) => !o.nodes.some((n) => n.address === a));
    if (unknown.length) throw new Error(`leaving: ${unknown.join(", ")} ${unknown.length === 1 ? "is" : "are"} not among the nodes given`);
    const staying = o.nodes.length - o.leaving.length;
    if (staying < podCount(o)) {
        throw new Error(
            `nodes: ${o.masters} masters x (1 + ${o.replicasPerMaster} replicas) need ${podCount(o)} nodes, but only ${staying} stay`,
        );
    }
    const ctx = actContext(o);
    const req = { ...planRequest(o), leaving: o.leaving };
    for (let round = 1; ; round++) {
        ctx.log(`inspecting ${o.nodes.length} nodes before the scale-in (${o.leaving.length} leave: ${o.leaving.join(", ")})`);
        const first = await inspect(o.transport, o.nodes);
        const members = clusterNodes(o.nodes, first);
        const formed = () => waitUntilFormed({ nodes: members, transport: o.transport, ...ctx.wait });
        // A drain plans from a settled cluster: right after a failover the old master may still claim its slots.
        if (first.some((v) => v.self.slotCount > 0)) await formed();
        const views = await inspect(o.transport, o.nodes, { memory: true });
        refuseForeign(views);
        const open = planOpenSlots(membership(views).members);
        const pending = open ? "slot moves left open" : drainPending(views, req);
        if (round > 1 && pending === undefined) {
            ctx.log(`drained: ${o.leaving.length} nodes hold nothing the cluster needs and can no longer be promoted`);
            if (o.release !== undefined) {
                const release = planRelease(views, { release: o.release, leaving: o.leaving });
                for (const line of renderPlan(release).split("\n")) ctx.log(line);
                await runPhases({ ...ctx, members }, release.phases);
            }
            return { drained: o.leaving, rounds: round - 1 };
        }
        if (round > FORMATION_DEFAULTS.openSlotRounds) {
            throw new Error(`the leaving nodes were not drained after ${round - 1} rounds: ${pending}. Nothing more was changed.`);
        }
        const plan = open ?? planDrain(views, req);
        for (const line of renderPlan(plan).split("\n")) ctx.log(line);
        await runPhases({ ...ctx, members }, plan.phases);
        await formed();
    }
}

/**
 * The nodes the "formed" checks wait on: the cluster's members. A lone node among the leaving ones (an
 * idle surge pod of the shape before) knows no one and never will, so a check over it would never pass;
 * the drain only marks it. A cluster with no members yet (never formed) is waited on whole, as before.
 */
export function clusterNodes(nodes: readonly FormNode[], views: readonly NodeView[]): readonly FormNode[] {
    const members = new Set(membership(views).members.map((v) => v.address));
    return members.size ? nodes.filter((n) => members.has(n.address)) : nodes;
}
