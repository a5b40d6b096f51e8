/** Parts of the plans for clusters that hold all their slots, pure: open slot moves, even shares (rebalance), joins and moves. */
import { SLOT_COUNT } from "../shape";
import { NodeView, ownsSlot } from "./clusterState";
import { FormationRefused, Phase, Plan, PlanRequest, Step, announce, lookup, waitKnown } from "./steps";

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

/** Slots in all moves. */
export const slotsMoved = (moves: readonly SlotMove[]) => moves.reduce((k, m) => k + m.slots.length, 0);

/**
 * Plans slot moves so that every master that stays, old and new, ends with an even share of the slots
 * (sizes differ by at most one), and the `emptied` masters with none. It covers a scale-out (new
 * masters start empty), a scale-in or an extra master (emptied masters give all their slots, evenly
 * over the others) and a cluster left uneven by an interrupted run; an even cluster yields no moves.
 * The larger shares stay with the masters that own the most already, so the fewest slots move;
 * donors give their highest slots.
 */
export function planRebalance(
    current: ReadonlyMap<string, readonly number[]>,
    newMasters: readonly string[] = [],
    emptied: readonly string[] = [],
): SlotMove[] {
    const total = [...current.values()].reduce((sum, s) => sum + s.length, 0);
    if (total !== SLOT_COUNT)
        throw new Error(`cluster: only ${total} of ${SLOT_COUNT} slots are assigned; fix coverage before moving slots`);
    for (const m of newMasters) if (current.has(m)) throw new Error(`newMasters: ${m} already owns slots`);
    for (const m of emptied) if (!current.has(m)) throw new Error(`emptied: ${m} owns no slots`);
    const owned = new Map<string, readonly number[]>([
        ...[...current.keys()].sort().map((m) => [m, current.get(m)!] as const),
        ...newMasters.map((m) => [m, []] as const),
    ]);
    const masters = [...owned.keys()];
    const staying = masters.filter((m) => !emptied.includes(m));
    if (staying.length === 0) throw new Error("emptied: no master would keep any slot");
    const base = Math.floor(SLOT_COUNT / staying.length);
    const extra = SLOT_COUNT % staying.length;
    const bySize = [...staying].sort((a, b) => owned.get(b)!.length - owned.get(a)!.length || masters.indexOf(a) - masters.indexOf(b));
    const target = new Map([...bySize.map((m, i) => [m, base + (i < extra ? 1 : 0)] as const), ...emptied.map((m) => [m, 0] as const)]);
    const donors = masters
        .map((m) => ({ master: m, give: [...owned.get(m)!].sort((a, b) => a - b).slice(target.get(m)!) }))
        .filter((d) => d.give.length > 0);
    const moves: SlotMove[] = [];
    for (const receiver of staying) {
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

/** The new nodes meet the cluster through a member, then all wait until they know each other (and announce). */
export function joinPhases(
    growth: { readonly joining: readonly string[]; readonly newMasters: readonly string[]; readonly returning?: readonly string[] },
    members: readonly NodeView[],
    all: readonly string[],
    idOf: ReadonlyMap<string, string>,
    req: PlanRequest,
): Phase[] {
    if (growth.joining.length === 0) return [];
    const anchor = members.find((v) => v.self.slotCount > 0)?.address ?? members[0].address;
    // A node forgotten less than 60 s ago is still banned on the others, which drop gossip about it;
    // a MEET is not subject to the ban, so every member meets returning nodes itself.
    const returning = growth.returning ?? [];
    const meets: Step[] = returning.length
        ? members.map((m) => ({ kind: "meet", from: m.address, to: growth.joining }))
        : [{ kind: "meet", from: anchor, to: growth.joining }];
    return [
        {
            title: returning.length
                ? `joining ${growth.joining.length} nodes (${growth.newMasters.length} new masters, ${returning.length} back on a kept claim) through every member`
                : `joining ${growth.joining.length} nodes (${growth.newMasters.length} new masters) through ${anchor}`,
            steps: meets,
        },
        waitKnown(
            all,
            all.map((a) => lookup(idOf, a, "node id")),
        ),
        ...(all.length <= req.largeClusterNodes ? [announce(all)] : []),
    ];
}

/** Slot moves with their keys, once every node serves (and an announce round after them). */
export function movePhases(
    moves: readonly SlotMove[],
    title: string,
    all: readonly string[],
    idOf: ReadonlyMap<string, string>,
    req: Pick<PlanRequest, "largeClusterNodes">,
): Phase[] {
    if (moves.length === 0) return [];
    return [
        // A node answers CLUSTERDOWN (also to MIGRATE's RESTORE) until it sees every slot covered.
        {
            title: `waiting for cluster_state:ok on all ${all.length} nodes before moving slots`,
            steps: [{ kind: "wait-usable", nodes: all }],
        },
        {
            title,
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
