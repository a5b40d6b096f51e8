/**
 * Plans, pure: every action the engine takes on a cluster is first a Plan value — phases of typed
 * steps — decided here from what the nodes reported (NodeView[]), rendered (renderPlan.ts) and
 * logged before anything is sent, and unit-tested without Redis. form.ts inspects, plans, runs the
 * plan (execute.ts) and verifies the result; nothing else decides what to change.
 *
 *  - no node owns slots                -> planCreate: a fresh cluster
 *  - slot moves left open              -> planOpenSlots: finish or cancel them, then plan again
 *  - some slots assigned, not all, or
 *    their owners have not met yet     -> planResume: complete the fresh formation that was interrupted
 *  - all slots assigned                -> planConverge: nothing, missing replicas, new masters (scale-out), rebalance
 *  - fewer masters, data on a new node, a node of another cluster -> FormationRefused, nothing sent
 */
import { SLOT_COUNT } from "../shape";
import { NodeView, inHandshake } from "./clusterState";
import { validateShape } from "./placement";
import { planConverge } from "./planConverge";
import { planOpenSlots } from "./planExisting";
import { planCreate, planResume } from "./planFresh";
import { FormationRefused, Plan, PlanRequest, isStaleReplica, membership, refuseData } from "./steps";

export { validateShape } from "./placement";
export { planCreate, planResume } from "./planFresh";
export { planOpenSlots, planRebalance } from "./planExisting";
export { planConverge } from "./planConverge";
export type { SlotMove } from "./planExisting";
export * from "./steps";

/** Decides what this run does. Throws FormationRefused (nothing sent yet) when it must not act. */
export function planRun(views: readonly NodeView[], req: PlanRequest): Plan {
    validateShape(req.nodes.length, req.masters, req.replicasPerMaster);
    refuseForeign(views);
    if (!views.some((v) => v.self.slotCount > 0)) return planCreate(views, req);
    const { members, outsiders } = membership(views);
    refuseData(outsiders.filter((v) => !isStaleReplica(v)));
    const open = planOpenSlots(members);
    if (open) return open;
    const covered = members.reduce((k, v) => k + v.self.slotCount, 0);
    // Owners that do not know each other yet are a fresh formation that died before its MEETs, even
    // when every slot is assigned.
    if (covered < SLOT_COUNT || !ownersMet(members)) return planResume(views, req, covered);
    return planConverge(views, req);
}

/** Whether every node that owns slots knows every other one (past the handshake). */
export function ownersMet(views: readonly NodeView[]): boolean {
    const owners = views.filter((v) => v.self.slotCount > 0);
    return owners.every((o) =>
        owners.every((other) => other === o || o.peers.some((p) => p.id === other.self.id && !p.flags.includes("handshake"))),
    );
}

/**
 * Nodes that know peers outside the given set belong to another cluster, with one exception: a
 * cluster member may still know nodes whose pods are gone (a scale-in); those own no slots, and the
 * converge plan forgets them. Peers are told apart by node id, as an address may have moved.
 */
export function refuseForeign(views: readonly NodeView[]): void {
    const given = new Set(views.map((v) => v.self.id));
    const members = new Set(membership(views).members.map((v) => v.self.id));
    for (const v of views) {
        const unknown = v.peers.filter((p) => !given.has(p.id) && !inHandshake(p));
        // A stale replica coming back knows the cluster's departed nodes too, as its members do.
        const departedOk = members.has(v.self.id) || (isStaleReplica(v) && v.peers.some((p) => members.has(p.id)));
        if (!departedOk && unknown.length > 0) {
            throw new FormationRefused(
                `node ${v.address} belongs to another cluster: it knows ${unknown.map((p) => p.address).join(", ")}, which ` +
                    `${unknown.length === 1 ? "is" : "are"} not among the nodes given. Nothing was changed; ` +
                    `remove it from that cluster (CLUSTER FORGET / CLUSTER RESET on an empty node) or use a fresh node.`,
            );
        }
        const owner = unknown.find((p) => p.slotCount > 0);
        if (owner) {
            throw new FormationRefused(
                `node ${v.address} knows ${owner.address} (${owner.id}), which owns ${owner.slotCount} slots but is not among the nodes given: ` +
                    `either its pod is gone with those slots (bring it back; a scale-in drains pods before it removes them) or ${v.address} ` +
                    `belongs to another cluster. Nothing was changed.`,
            );
        }
    }
}
