/** Planners for clusters that hold all their slots, pure: open slot moves, rebalancing, and growing to the requested shape. */
import { SLOT_COUNT } from "../shape";
import { NodeView, ownsSlot } from "./clusterState";
import { PlanNode, pairReplicas, spreadOrder, zonesVary } from "./placement";
import { expandSlots } from "./slots";
import { FormationRefused, Phase, Plan, PlanRequest, Step, announce, lookup, membership, planLeftoverRestores, waitKnown } from "./steps";

/**
 * Closes slot moves left open by an interrupted run, or undefined when none is open.
 *  - The donor is MIGRATING: keys may have moved already, so the move is finished (keys go where the
 *    move was heading), also when the receiver owns the slot already (the run stopped between the two
 *    SETSLOT NODE).
 *  - Only the receiver is IMPORTING (the run stopped before the donor's MIGRATING): no key can have
 *    moved, so the move is cancelled and the rebalance plans afresh. A receiver that holds keys of
 *    such a slot is refused: something else is going on.
 */
export function planOpenSlots(members: readonly NodeView[]): Plan | undefined {
    const byId = new Map(members.map((v) => [v.self.id, v]));
    const finish: Step[] = [];
    for (const from of members) {
        for (const [slot, toId] of from.self.migrating) {
            const to = byId.get(toId);
            if (!to) {
                throw new FormationRefused(
                    `slot ${slot} on ${from.address} is migrating to unknown node ${toId}; repair it with redis-cli --cluster fix. Nothing was changed.`,
                );
            }
            const openOnReceiver = !to.self.importing.has(slot) && !ownsSlot(to.self, slot);
            finish.push({ kind: "finish-move", slot, from: from.address, to: to.address, fromId: from.self.id, toId, openOnReceiver });
        }
    }
    const cancel: Step[] = [];
    for (const to of members) {
        for (const [slot, fromId] of to.self.importing) {
            if (byId.get(fromId)?.self.migrating.get(slot) === to.self.id) continue; // finished above
            const keys = to.strayImportKeys.get(slot) ?? 0;
            if (keys > 0) {
                throw new FormationRefused(
                    `slot ${slot}: ${to.address} imports it from ${fromId}, which is not migrating it, and already holds ${keys} of its keys; ` +
                        `repair it with redis-cli --cluster fix. Nothing was changed.`,
                );
            }
            cancel.push({ kind: "cancel-move", slot, node: to.address, fromId });
        }
    }
    if (finish.length + cancel.length === 0) return undefined;
    const phases: Phase[] = [
        { title: `finishing ${finish.length} slot moves an interrupted run had started`, steps: finish },
        { title: `cancelling ${cancel.length} slot moves an interrupted run never started`, steps: cancel },
    ];
    return {
        kind: "close-open-slots",
        summary: `close ${finish.length + cancel.length} slot moves left open by an interrupted run, then look at the cluster afresh`,
        phases: phases.filter((p) => p.steps.length > 0),
        cleanup: [],
        members: members.map((v) => v.address),
    };
}

/** One batch of slots to move from one master to another. */
export interface SlotMove {
    readonly from: string;
    readonly to: string;
    readonly slots: readonly number[];
}

/**
 * Plans slot moves so that every master, old and new, ends with an even share of the slots (sizes
 * differ by at most one). It covers a scale-out (new masters start empty) and a cluster left uneven
 * by an interrupted one; an even cluster yields no moves. The larger shares stay with the masters
 * that own the most already, so the fewest slots move; donors give their highest slots.
 */
export function planRebalance(current: ReadonlyMap<string, readonly number[]>, newMasters: readonly string[] = []): SlotMove[] {
    const total = [...current.values()].reduce((sum, s) => sum + s.length, 0);
    if (total !== SLOT_COUNT)
        throw new Error(`cluster: only ${total} of ${SLOT_COUNT} slots are assigned; fix coverage before moving slots`);
    for (const m of newMasters) if (current.has(m)) throw new Error(`newMasters: ${m} already owns slots`);
    const owned = new Map<string, readonly number[]>([
        ...[...current.keys()].sort().map((m) => [m, current.get(m)!] as const),
        ...newMasters.map((m) => [m, []] as const),
    ]);
    const masters = [...owned.keys()];
    const base = Math.floor(SLOT_COUNT / masters.length);
    const extra = SLOT_COUNT % masters.length;
    const bySize = [...masters].sort((a, b) => owned.get(b)!.length - owned.get(a)!.length || masters.indexOf(a) - masters.indexOf(b));
    const target = new Map(bySize.map((m, i) => [m, base + (i < extra ? 1 : 0)]));
    const donors = masters
        .map((m) => ({ master: m, give: [...owned.get(m)!].sort((a, b) => a - b).slice(target.get(m)!) }))
        .filter((d) => d.give.length > 0);
    const moves: SlotMove[] = [];
    for (const receiver of masters) {
        let need = target.get(receiver)! - owned.get(receiver)!.length;
        for (const donor of donors) {
            if (need <= 0) break;
            if (donor.give.length === 0) continue;
            const taken = donor.give.splice(0, need);
            need -= taken.length;
            moves.push({ from: donor.master, to: receiver, slots: taken });
        }
    }
    return moves;
}

/** A formed cluster: keep it, add missing replicas and new masters with their share of the slots, or refuse. */
export function planConverge(views: readonly NodeView[], req: PlanRequest): Plan {
    const { members, outsiders } = membership(views);
    const current = new Map(members.filter((v) => v.self.slotCount > 0).map((v) => [v.address, expandSlots(v.self.slotRanges)]));
    if (current.size > req.masters) {
        throw new FormationRefused(
            `masters: the cluster has ${current.size} masters and ${req.masters} were requested; scaling in (removing masters) is not supported. ` +
                `Set masters to ${current.size} or more. Nothing was changed.`,
        );
    }
    const growth = planGrowth(members, outsiders, current, req);
    const moves = planRebalance(current, growth.newMasters);
    const leftovers = planLeftoverRestores(views, req.formationNodeTimeoutMs);
    const memberAddresses = members.map((v) => v.address);
    const all = [...memberAddresses, ...growth.joining.filter((a) => !memberAddresses.includes(a))];
    const idOf = new Map(views.map((v) => [v.address, v.self.id]));
    const phases = [
        ...(leftovers.length
            ? [{ title: `restoring cluster-node-timeout on ${leftovers.length} nodes an interrupted run had lowered`, steps: leftovers }]
            : []),
        ...joinPhases(growth, members, all, idOf, req),
        ...movePhases(moves, growth.newMasters.length > 0, all, idOf, req),
        ...(growth.replicas.length ? [{ title: `replicating: ${growth.replicas.length} replicas`, steps: growth.replicas }] : []),
    ];
    const outcome = growth.newMasters.length > 0 ? "scaled-out" : phases.length > 0 ? "completed" : "unchanged";
    return {
        kind: "converge",
        summary:
            outcome === "unchanged"
                ? "cluster already has the requested shape; checking that it is formed"
                : `converge to ${req.masters} masters x ${req.replicasPerMaster} replicas: ${growth.newMasters.length} new masters, ${growth.replicas.length} new replicas, ${moves.reduce((k, m) => k + m.slots.length, 0)} slots to move`,
        phases,
        cleanup: [],
        members: all,
        outcome,
    };
}

interface Growth {
    readonly newMasters: readonly string[];
    /** New masters and new replicas: the nodes that join. */
    readonly joining: readonly string[];
    readonly replicas: readonly Step[];
}

/** New masters from the free nodes (spread over zones and k8s nodes), and a replica for every empty seat. */
function planGrowth(
    members: readonly NodeView[],
    outsiders: readonly NodeView[],
    current: ReadonlyMap<string, readonly number[]>,
    req: PlanRequest,
): Growth {
    const placeOf = new Map(req.nodes.map((n) => [n.address, n]));
    const idOf = new Map([...members, ...outsiders].map((v) => [v.address, v.self.id]));
    const masterIds = new Map(members.map((v) => [v.self.id, v.address]));
    const replicaCount = new Map<string, number>([...current.keys()].map((a) => [a, 0]));
    for (const v of members) {
        const master = v.self.masterId && masterIds.get(v.self.masterId);
        if (master && replicaCount.has(master)) replicaCount.set(master, lookup(replicaCount, master, "replica count") + 1);
    }
    const free = [...members.filter((v) => v.self.slotCount === 0 && !v.self.masterId), ...outsiders].map((v) =>
        lookup(placeOf, v.address, "node"),
    );
    const newMasters = spreadOrder(free).slice(0, req.masters - current.size);
    const candidates = free.filter((n) => !newMasters.includes(n));
    const seats = [...current.keys(), ...newMasters.map((n) => n.address)].flatMap((m) =>
        new Array<PlanNode>(Math.max(0, req.replicasPerMaster - (replicaCount.get(m) ?? 0))).fill(lookup(placeOf, m, "node")),
    );
    if (candidates.length < seats.length) {
        throw new FormationRefused(
            `nodes: ${newMasters.length} new masters and ${seats.length} new replicas are needed but only ${free.length} free nodes are available. Nothing was changed.`,
        );
    }
    if (newMasters.length === 0 && seats.length === 0) return { newMasters: [], joining: [], replicas: [] };
    const pairing = pairReplicas(seats, candidates, 1, zonesVary(req.nodes));
    const replicas: Step[] = pairing.byMaster.flatMap((rs, seat) =>
        rs.map((r) => ({
            kind: "replicate" as const,
            replica: r,
            master: seats[seat].address,
            masterId: lookup(idOf, seats[seat].address, "node id"),
        })),
    );
    return {
        newMasters: newMasters.map((n) => n.address),
        joining: [...newMasters.map((n) => n.address), ...pairing.byMaster.flat()],
        replicas,
    };
}

function joinPhases(
    growth: Growth,
    members: readonly NodeView[],
    all: readonly string[],
    idOf: ReadonlyMap<string, string>,
    req: PlanRequest,
): Phase[] {
    if (growth.joining.length === 0) return [];
    const anchor = members.find((v) => v.self.slotCount > 0)?.address ?? members[0].address;
    return [
        {
            title: `joining ${growth.joining.length} nodes (${growth.newMasters.length} new masters) through ${anchor}`,
            steps: [{ kind: "meet", from: anchor, to: growth.joining }],
        },
        waitKnown(
            all,
            all.map((a) => lookup(idOf, a, "node id")),
        ),
        ...(all.length <= req.largeClusterNodes ? [announce(all)] : []),
    ];
}

function movePhases(
    moves: readonly SlotMove[],
    toNewMasters: boolean,
    all: readonly string[],
    idOf: ReadonlyMap<string, string>,
    req: PlanRequest,
): Phase[] {
    if (moves.length === 0) return [];
    const total = moves.reduce((k, m) => k + m.slots.length, 0);
    const receivers = new Set(moves.map((m) => m.to)).size;
    return [
        // A node answers CLUSTERDOWN (also to MIGRATE's RESTORE) until it sees every slot covered.
        {
            title: `waiting for cluster_state:ok on all ${all.length} nodes before moving slots`,
            steps: [{ kind: "wait-usable", nodes: all }],
        },
        {
            title: `rebalancing: moving ${total} slots to ${receivers} ${toNewMasters ? "new " : ""}masters with their keys`,
            steps: moves.map((m) => ({
                kind: "move-slots",
                from: m.from,
                to: m.to,
                fromId: lookup(idOf, m.from, "node id"),
                toId: lookup(idOf, m.to, "node id"),
                slots: m.slots,
            })),
        },
        ...(all.length <= req.largeClusterNodes ? [announce(all)] : []),
    ];
}
