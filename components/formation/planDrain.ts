/**
 * The scale-in drain, pure: before the StatefulSet removes its highest pods, nothing the cluster
 * needs may be left on them. The plan, from the live cluster:
 *  - the leaving nodes are marked never to be promoted (cluster-replica-no-failover), so no failover
 *    hands a shard to a pod that is about to go;
 *  - the requested number of shards stay (those with the most members among the staying pods, then
 *    the most slots); a staying shard whose master leaves is handed over to a staying replica
 *    (coordinated failover after a sync check), or, if none of its members stays, a staying node first
 *    replicates it and then takes over;
 *  - the other shards are emptied: their slots move with their keys, evenly, to the staying masters —
 *    refused before anything moves when the keys would not fit the receivers' maxmemory;
 *  - every staying master gets its replicas from the staying nodes, away from its k8s node and zone
 *    where possible.
 * Afterwards the leaving nodes own no slots and replicate no one that stays; once their pods are
 * gone, the formation's converge plan makes every node forget them.
 */
import { SLOT_COUNT } from "../shape";
import { NodeView } from "./clusterState";
import { FORMATION_DEFAULTS } from "./defaults";
import { PlanNode, pairReplicas, separationRank, zonesVary } from "./placement";
import { placeGetter } from "./planConverge";
import { SlotMove, movePhases, planRebalance, slotsMoved } from "./planExisting";
import { Pairing, chooseLeader, improvePlacement } from "./repair";
import { expandSlots } from "./slots";
import { FormationRefused, Phase, Plan, PlanRequest, Step, lookup, membership } from "./steps";
import { Shard, Topology, topology } from "./topology";

export interface DrainRequest extends PlanRequest {
    /** Addresses of the nodes whose pods the StatefulSet removes (its highest ordinals). */
    readonly leaving: readonly string[];
}

/** Which shards stay, who leads each, and who joins a shard without a staying member. */
interface DrainLayout {
    readonly kept: readonly Shard[];
    readonly dropped: readonly Shard[];
    /** Handovers to a staying replica of the shard. */
    readonly handovers: readonly { readonly master: string; readonly replica: string }[];
    /** Staying nodes that first replicate a shard none of whose members stays, then take it over. */
    readonly recruits: readonly { readonly master: string; readonly recruit: string }[];
    /** The leader of each kept shard afterwards, by its current master. */
    readonly leaderOf: ReadonlyMap<string, string>;
}

/** The drain of `req.leaving` (see the module comment); a plan without phases when nothing is on them. */
export function planDrain(views: readonly NodeView[], req: DrainRequest): Plan {
    const { members } = membership(views);
    const topo = topology(members);
    const leaving = new Set(req.leaving);
    const stays = (a: string) => !leaving.has(a);
    const covered = drainableCoverage(topo);
    const placeOf = placeGetter(req.nodes);
    const sc = { placeOf, zonesVary: zonesVary(req.nodes) };
    const layout = drainLayout(topo, req.masters, stays, sc);
    const { moves, current } = emptyingMoves(topo, layout, covered);
    refuseUnfitKeys(views, moves, current);
    const shards = replicaLayout(topo, layout, req, stays, sc);
    const idOf = new Map(views.map((v) => [v.address, v.self.id]));
    const replicates = replicateSteps(topo, layout, shards, idOf);
    const phases = drainPhases({ views, leaving, layout, moves, replicates, idOf, req });
    const nothingOnThem = phases.every((p) => p.steps.every((s) => s.kind === "replica-failover"));
    return {
        kind: "drain",
        summary: nothingOnThem
            ? `drain ${leaving.size} leaving nodes: nothing the cluster needs is on them`
            : `drain ${leaving.size} leaving nodes: ${layout.handovers.length + layout.recruits.length} handovers, ${slotsMoved(moves)} slots to move off ${layout.dropped.length} shards, ${replicates.length} replicas to re-pair`,
        phases,
        cleanup: [],
        members: views.map((v) => v.address),
        outcome: "drained",
    };
}

/**
 * The slots the shards cover: all of them, or none (a cluster never formed). A partly covered cluster
 * is refused, since the slot moves that empty the leaving shards need the whole map to be sound.
 */
function drainableCoverage(topo: Topology): number {
    const covered = topo.shards.reduce((k, s) => k + s.slots, 0);
    if (covered > 0 && covered < SLOT_COUNT) {
        throw new FormationRefused(
            `cluster: only ${covered} of ${SLOT_COUNT} slots are covered, so it cannot be drained safely; let the formation complete it first (pulumi up with the current shape). Nothing was changed.`,
        );
    }
    return covered;
}

/**
 * The slot moves that empty the dropped shards onto the kept ones, and the slot map they start from
 * (which the key-fit check reads the donors' shares off).
 */
function emptyingMoves(topo: Topology, layout: DrainLayout, covered: number): { moves: SlotMove[]; current: Map<string, number[]> } {
    // Slots move after the handovers, so to the shards' new masters.
    const handedTo = new Map(layout.handovers.map((h) => [h.master, h.replica]));
    const current = new Map(topo.shards.map((s) => [handedTo.get(s.master) ?? s.master, expandSlots(s.slotRanges)]));
    // A cluster never formed holds nothing to drain.
    const moves =
        covered === 0
            ? []
            : planRebalance(
                  current,
                  [],
                  layout.dropped.map((s) => s.master),
              );
    return { moves, current };
}

/** What the phases of a drain are built from: the layout decided and the steps already computed. */
interface DrainPhaseInputs {
    readonly views: readonly NodeView[];
    readonly leaving: ReadonlySet<string>;
    readonly layout: DrainLayout;
    readonly moves: readonly SlotMove[];
    readonly replicates: readonly Step[];
    readonly idOf: ReadonlyMap<string, string>;
    readonly req: DrainRequest;
}

/**
 * The drain's phases in the order they must run, empty ones left out: the leaving nodes are marked
 * first so no failover during the drain promotes one; handovers precede the slot moves so the slots go
 * to the shards' new masters; recruits replicate before they take over, so they hold the data first.
 */
function drainPhases(d: DrainPhaseInputs): Phase[] {
    const { layout, moves, replicates, idOf } = d;
    const handover = (master: string, replica: string) => handoverStep(idOf, master, replica);
    return (
        [
            {
                title: `marking ${d.leaving.size} leaving nodes never to be promoted`,
                steps: d.views
                    .filter((v) => d.leaving.has(v.address))
                    .map((v): Step => ({ kind: "replica-failover", node: v.address, allowed: false })),
            },
            {
                title: `handing over ${layout.handovers.length} shards whose master leaves to a replica that stays`,
                steps: layout.handovers.map((h) => handover(h.master, h.replica)),
            },
            ...movePhases(
                moves,
                `emptying ${layout.dropped.length} shards: moving ${slotsMoved(moves)} slots to ${new Set(moves.map((m) => m.to)).size} masters that stay, with their keys`,
                // Members only: a lone node among the leaving (an idle surge pod) is never ok, and must not be announced to the cluster.
                membership(d.views).members.map((v) => v.address),
                idOf,
                d.req,
            ),
            {
                title: `recruiting: ${layout.recruits.length} staying nodes replicate a shard none of whose members stays`,
                steps: layout.recruits.map((r): Step => ({
                    kind: "replicate",
                    replica: r.recruit,
                    master: r.master,
                    masterId: lookup(idOf, r.master, "node id"),
                })),
            },
            {
                title: `handing those ${layout.recruits.length} shards over to their recruits`,
                steps: layout.recruits.map((r) => handover(r.master, r.recruit)),
            },
            { title: `replicating: ${replicates.length} staying nodes follow a staying master`, steps: replicates },
        ] satisfies Phase[]
    ).filter((p) => p.steps.length > 0);
}

/** A coordinated handover of `master`'s shard to `replica`, with both node ids the step needs. */
function handoverStep(idOf: ReadonlyMap<string, string>, master: string, replica: string): Step {
    return {
        kind: "handover",
        master,
        replica,
        masterId: lookup(idOf, master, "node id"),
        replicaId: lookup(idOf, replica, "node id"),
    };
}

/** The shards that stay and how each gets a staying leader. */
function drainLayout(
    topo: Topology,
    masters: number,
    stays: (a: string) => boolean,
    sc: { placeOf: (a: string) => PlanNode; zonesVary: boolean },
): DrainLayout {
    const membersOf = (s: Shard) => [s.master, ...s.replicas];
    const staying = (s: Shard) => membersOf(s).filter(stays).length;
    const ranked = [...topo.shards].sort(
        (a, b) =>
            staying(b) - staying(a) ||
            Number(stays(b.master)) - Number(stays(a.master)) ||
            b.slots - a.slots ||
            a.master.localeCompare(b.master),
    );
    const kept = ranked.slice(0, masters);
    const dropped = ranked.slice(masters);
    const handovers: { master: string; replica: string }[] = [];
    const leaderOf = new Map<string, string>();
    for (const s of kept.filter((k) => staying(k) > 0)) {
        const others = kept.filter((k) => k !== s).map((k) => k.master);
        const leader = stays(s.master) ? s.master : chooseLeader(s, stays, sc, others)!;
        if (leader !== s.master) handovers.push({ master: s.master, replica: leader });
        leaderOf.set(s.master, leader);
    }
    // A shard none of whose members stays takes a recruit: a staying node no other shard leads,
    // preferably not a master that must first be emptied, best separated from the shard's master.
    const taken = new Set(leaderOf.values());
    const recruits: { master: string; recruit: string }[] = [];
    for (const s of kept.filter((k) => staying(k) === 0)) {
        const pool = topo.shards
            .flatMap(membersOf)
            .concat(
                topo.empty,
                topo.orphans.map((o) => o.address),
            )
            .filter((a) => stays(a) && !taken.has(a));
        const isMaster = (a: string) => topo.shards.some((d) => d.master === a);
        const recruit = pool.sort(
            (a, b) =>
                Number(isMaster(a)) - Number(isMaster(b)) ||
                separationRank(sc.placeOf(s.master), sc.placeOf(a), sc.zonesVary) -
                    separationRank(sc.placeOf(s.master), sc.placeOf(b), sc.zonesVary) ||
                a.localeCompare(b),
        )[0];
        if (!recruit) {
            throw new FormationRefused(
                `shard of ${s.master}: none of its nodes stays and no staying node is free to take it over. Nothing was changed.`,
            );
        }
        taken.add(recruit);
        recruits.push({ master: s.master, recruit });
        leaderOf.set(s.master, recruit);
    }
    return { kept, dropped, handovers, recruits, leaderOf };
}

/**
 * The replicas of every staying master, from the staying nodes: its own staying replicas first (the
 * best separated, up to the requested number), then the rest of the staying nodes by placement;
 * finally swaps where they separate more pairs.
 */
function replicaLayout(
    topo: Topology,
    layout: DrainLayout,
    req: DrainRequest,
    stays: (a: string) => boolean,
    sc: { placeOf: (a: string) => PlanNode; zonesVary: boolean },
): Pairing[] {
    const leaders = layout.kept.map((s) => layout.leaderOf.get(s.master)!);
    const byFit = (m: string) => (a: string, b: string) =>
        separationRank(sc.placeOf(m), sc.placeOf(a), sc.zonesVary) - separationRank(sc.placeOf(m), sc.placeOf(b), sc.zonesVary) ||
        a.localeCompare(b);
    const own = new Map(
        layout.kept.map((s) => {
            const leader = layout.leaderOf.get(s.master)!;
            const members = [s.master, ...s.replicas].filter((a) => stays(a) && !leaders.includes(a));
            return [leader, members.sort(byFit(leader)).slice(0, req.replicasPerMaster)];
        }),
    );
    const placed = new Set([...leaders, ...[...own.values()].flat()]);
    const candidates = [
        ...topo.shards.flatMap((s) => [s.master, ...s.replicas]),
        ...topo.empty,
        ...topo.orphans.map((o) => o.address),
    ].filter((a) => stays(a) && !placed.has(a));
    const seats = leaders.flatMap((m) => new Array<PlanNode>(req.replicasPerMaster - own.get(m)!.length).fill(sc.placeOf(m)));
    if (candidates.length < seats.length) {
        throw new FormationRefused(
            `nodes: after the scale-in ${seats.length} replica seats would be empty but only ${candidates.length} staying nodes are free. Nothing was changed.`,
        );
    }
    const pairing = seats.length ? pairReplicas(seats, candidates.map(sc.placeOf), 1, sc.zonesVary) : { byMaster: [] };
    const assigned = new Map(leaders.map((m) => [m, [...own.get(m)!]]));
    pairing.byMaster.forEach((rs, seat) => assigned.get(seats[seat].address)!.push(...rs));
    const shards = leaders.map((m) => ({ master: m, replicas: assigned.get(m)!.sort() }));
    return [...improvePlacement(shards, sc, () => []).shards];
}

/** REPLICATE for every staying node whose master afterwards is not the one it follows after the handovers. */
function replicateSteps(topo: Topology, layout: DrainLayout, shards: readonly Pairing[], idOf: ReadonlyMap<string, string>): Step[] {
    const followsAfter = (a: string): string | undefined => {
        const shard = topo.shards.find((s) => s.master === a || s.replicas.includes(a));
        if (!shard || layout.dropped.includes(shard)) return undefined;
        const leader = layout.leaderOf.get(shard.master)!;
        return leader === a ? undefined : leader;
    };
    return shards.flatMap((s) =>
        s.replicas
            .filter((r) => followsAfter(r) !== s.master)
            .map((r): Step => ({ kind: "replicate", replica: r, master: s.master, masterId: lookup(idOf, s.master, "node id") })),
    );
}

/**
 * Refuses a drain whose keys would not fit: each receiving master's memory afterwards is estimated as
 * its own used memory plus, per move, the donor's dataset share of the slots it receives (keys spread
 * evenly over slots), and must stay below FORMATION_DEFAULTS.drainMemoryHeadroom of its maxmemory.
 * A RESTORE into a node at maxmemory fails with OOM (noeviction), which would stop the drain half-way.
 * Without memory readings (at preview) nothing is checked.
 */
export function refuseUnfitKeys(
    views: readonly NodeView[],
    moves: readonly SlotMove[],
    current: ReadonlyMap<string, readonly number[]>,
): void {
    const byAddress = new Map(views.map((v) => [v.address, v]));
    const incoming = new Map<string, number>();
    for (const m of moves) {
        const donor = byAddress.get(m.from)?.memory;
        const donorSlots = current.get(m.from)?.length ?? 0;
        if (!donor || donorSlots === 0) return;
        incoming.set(m.to, (incoming.get(m.to) ?? 0) + (donor.datasetBytes * m.slots.length) / donorSlots);
    }
    const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
    for (const [to, bytes] of incoming) {
        const memory = byAddress.get(to)?.memory;
        if (!memory || memory.maxBytes === 0) continue;
        const after = memory.usedBytes + bytes;
        if (after > memory.maxBytes * FORMATION_DEFAULTS.drainMemoryHeadroom) {
            throw new FormationRefused(
                `keys: after the scale-in ${to} would hold about ${mib(after)} (${mib(memory.usedBytes)} now + ${mib(bytes)} moved to it), ` +
                    `more than ${Math.round(FORMATION_DEFAULTS.drainMemoryHeadroom * 100)}% of its maxmemory ${mib(memory.maxBytes)}; ` +
                    `keep more masters or raise redis:memoryLimit first. Nothing was changed.`,
            );
        }
    }
}

/**
 * What still keeps the leaving nodes from going, read off fresh views, or undefined when drained:
 * slots on them, staying nodes that replicate them, staying masters short of masters or replicas, and
 * leaving nodes that could still be promoted.
 */
export function drainPending(views: readonly NodeView[], req: DrainRequest): string | undefined {
    const leaving = new Set(req.leaving);
    const topo = topology(membership(views).members);
    const pending: string[] = [];
    for (const s of topo.shards.filter((x) => leaving.has(x.master))) pending.push(`${s.master} leaves with ${s.slots} slots`);
    const stayingShards = topo.shards.filter((s) => !leaving.has(s.master));
    for (const s of topo.shards) {
        for (const r of s.replicas) if (!leaving.has(r) && leaving.has(s.master)) pending.push(`${r} replicates ${s.master}, which leaves`);
    }
    if (topo.shards.length > 0 && stayingShards.length !== req.masters)
        pending.push(`${stayingShards.length} staying masters own slots; ${req.masters} are requested`);
    for (const s of stayingShards) {
        const staying = s.replicas.filter((r) => !leaving.has(r)).length;
        if (staying < req.replicasPerMaster)
            pending.push(`${s.master} has ${staying} staying replicas; ${req.replicasPerMaster} are requested`);
    }
    for (const v of views) if (leaving.has(v.address) && !v.noFailover) pending.push(`${v.address} may still be promoted`);
    return pending.length ? pending.slice(0, 8).join("; ") + (pending.length > 8 ? ` (+${pending.length - 8} more)` : "") : undefined;
}
