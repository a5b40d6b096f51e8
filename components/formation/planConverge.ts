/**
 * The planner for a cluster that holds all its slots, pure: whatever the live cluster looks like
 * (after failovers, rescheduled pods, a scale-in, hand edits), the plan that brings it to the
 * requested shape with the fewest changes:
 *  - departed nodes (pods gone) are forgotten by every node at once;
 *  - replicas on their master's k8s node or zone are re-paired: a handover inside the shard, or a swap;
 *  - new nodes join; masters beyond the requested number are emptied (their slots, with their keys,
 *    spread evenly over the others) and new masters get an even share;
 *  - every master ends with its replicas: free nodes, surplus replicas, replicas of emptied masters and
 *    replicas whose master is gone fill the empty seats, away from their master where possible.
 */
import { NodeView } from "./clusterState";
import { PlanNode, pairReplicas, separationRank, spreadOrder, zonesVary } from "./placement";
import { SlotMove, joinPhases, movePhases, planRebalance, slotsMoved } from "./planExisting";
import { Pairing, improvePlacement } from "./repair";
import { expandSlots } from "./slots";
import { FormationRefused, Phase, Plan, PlanRequest, Step, isStaleReplica, lookup, membership, planLeftoverRestores } from "./steps";
import { Departed, Topology, topology } from "./topology";

/** Where a node runs, for any address the request names; an unnamed one is placed nowhere in particular. */
export function placeGetter(nodes: readonly PlanNode[]): (address: string) => PlanNode {
    const byAddress = new Map(nodes.map((n) => [n.address, n]));
    return (address) => byAddress.get(address) ?? { address };
}

/** The target layout: which masters stay, which are new or emptied, and who replicates whom. */
export interface Layout {
    /** Masters that keep their slots, by address (before any handover). */
    readonly kept: readonly string[];
    /** Masters that give all their slots away. */
    readonly emptied: readonly string[];
    /** Free nodes that become masters and receive slots. */
    readonly newMasters: readonly string[];
    /** Nodes outside the cluster that join it (new masters and new replicas). */
    readonly joining: readonly string[];
    /** Those of them that come back on a claim a scale-in kept (stale replicas the others may still ban). */
    readonly returning: readonly string[];
    /** Every master afterwards with its replicas (kept masters named before any handover). */
    readonly shards: readonly Pairing[];
    readonly warnings: readonly string[];
}

/** A formed cluster: converge it to the requested shape (see the module comment), or refuse. */
export function planConverge(views: readonly NodeView[], req: PlanRequest): Plan {
    const { members, outsiders } = membership(views);
    const topo = topology(members);
    const placeOf = placeGetter(req.nodes);
    const layout = targetLayout(topo, outsiders, req, placeOf);
    // A handover goes only to a replica that follows the master now and stays with it.
    const synced = (m: string) => {
        const stays = layout.shards.find((s) => s.master === m)?.replicas ?? [];
        return (topo.shards.find((s) => s.master === m)?.replicas ?? []).filter((r) => stays.includes(r));
    };
    const repair = improvePlacement(layout.shards, { placeOf, zonesVary: zonesVary(req.nodes) }, synced);
    const idOf = new Map(views.map((v) => [v.address, v.self.id]));
    const memberAddresses = members.map((v) => v.address);
    const all = [...memberAddresses, ...layout.joining.filter((a) => !memberAddresses.includes(a))];
    const leaderOf = new Map(repair.handovers.map((h) => [h.master, h.replica]));
    const moves = planRebalance(
        new Map(topo.shards.map((s) => [leaderOf.get(s.master) ?? s.master, expandSlots(s.slotRanges)])),
        layout.newMasters,
        layout.emptied,
    );
    const replicates = replicateSteps(topo, repair.shards, leaderOf, idOf);
    const leftovers = planLeftoverRestores(views, req.formationNodeTimeoutMs);
    const phases: Phase[] = [
        ...(leftovers.length
            ? [{ title: `restoring cluster-node-timeout on ${leftovers.length} nodes an interrupted run had lowered`, steps: leftovers }]
            : []),
        ...failoverPhases(views),
        ...forgetPhases(members, topo.departed),
        ...handoverPhases(repair.handovers, idOf),
        ...joinPhases(layout, members, all, idOf, req),
        ...movePhases(moves, moveTitle(moves, layout), all, idOf, req),
        ...replicatePhases(replicates),
    ];
    const outcome =
        layout.newMasters.length > 0
            ? "scaled-out"
            : topo.departed.length > 0
              ? "scaled-in"
              : phases.length > 0
                ? "completed"
                : "unchanged";
    return {
        kind: "converge",
        summary:
            outcome === "unchanged"
                ? "cluster already has the requested shape; checking that it is formed"
                : summaryOf(req, layout, moves, replicates, repair.handovers.length, topo.departed),
        phases,
        cleanup: [],
        members: all,
        outcome,
    };
}

/**
 * Which masters stay (the requested number, those with the most slots first), which free nodes become
 * new masters, and who replicates whom: current pairs are kept up to the requested number of replicas
 * (the best separated first); every other seat is filled from the free nodes, the surplus replicas,
 * the emptied masters with their replicas, and the replicas whose master is gone.
 */
export function targetLayout(topo: Topology, outsiders: readonly NodeView[], req: PlanRequest, placeOf: (a: string) => PlanNode): Layout {
    const departedOwners = topo.departed.filter((d) => d.slots > 0);
    if (departedOwners.length) throw departedOwnerRefusal(departedOwners[0]);
    const ranked = [...topo.shards].sort((a, b) => b.slots - a.slots || a.master.localeCompare(b.master));
    const keptShards = ranked.slice(0, req.masters);
    const emptiedShards = ranked.slice(req.masters);
    const free = [...topo.empty, ...outsiders.map((v) => v.address)];
    // A stale replica's keys would shadow the slots it received: only a node without keys becomes a master.
    const keyless = new Set([...topo.empty, ...outsiders.filter((v) => v.keys === 0).map((v) => v.address)]);
    const newMasters = spreadOrder(free.filter((a) => keyless.has(a)).map(placeOf))
        .slice(0, Math.max(0, req.masters - keptShards.length))
        .map((n) => n.address);
    const vary = zonesVary(req.nodes);
    const byFit = (master: string) => (a: string, b: string) =>
        separationRank(placeOf(master), placeOf(a), vary) - separationRank(placeOf(master), placeOf(b), vary) || a.localeCompare(b);
    const keptReplicas = new Map(keptShards.map((s) => [s.master, [...s.replicas].sort(byFit(s.master)).slice(0, req.replicasPerMaster)]));
    const candidates = [
        ...keptShards.flatMap((s) => s.replicas.filter((r) => !keptReplicas.get(s.master)!.includes(r))),
        ...emptiedShards.flatMap((s) => [s.master, ...s.replicas]),
        ...topo.orphans.map((o) => o.address),
        ...free.filter((a) => !newMasters.includes(a)),
    ];
    const masters = [...keptShards.map((s) => s.master), ...newMasters];
    const seats = masters.flatMap((m) => new Array<PlanNode>(req.replicasPerMaster - (keptReplicas.get(m)?.length ?? 0)).fill(placeOf(m)));
    if (masters.length < req.masters) {
        const stale = outsiders.filter((v) => v.keys > 0).map((v) => v.address);
        throw new FormationRefused(
            `nodes: ${req.masters - keptShards.length} new masters are needed but only ${newMasters.length} nodes are free to become one ` +
                `(a replica cannot: it holds its master's data)` +
                (stale.length
                    ? `; ${stale.join(", ")} hold${stale.length === 1 ? "s" : ""} the keys of an old copy (a claim kept after a scale-in): ` +
                      `delete ${stale.length === 1 ? "its" : "their"} PersistentVolumeClaim so the pod starts empty`
                    : "") +
                `. Nothing was changed.`,
        );
    }
    if (candidates.length < seats.length) {
        throw new FormationRefused(
            `nodes: ${seats.length} replicas are missing but only ${candidates.length} nodes can take them ` +
                `(free nodes, surplus replicas, emptied masters and replicas whose master is gone). Nothing was changed.`,
        );
    }
    const pairing = seats.length ? pairReplicas(seats, candidates.map(placeOf), 1, vary) : { byMaster: [], warnings: [] };
    const assigned = new Map<string, string[]>(masters.map((m) => [m, [...(keptReplicas.get(m) ?? [])]]));
    pairing.byMaster.forEach((rs, seat) => assigned.get(seats[seat].address)!.push(...rs));
    const joining = outsiders.map((v) => v.address).filter((a) => newMasters.includes(a) || pairing.byMaster.some((rs) => rs.includes(a)));
    return {
        kept: keptShards.map((s) => s.master),
        emptied: emptiedShards.map((s) => s.master),
        newMasters,
        joining,
        returning: outsiders.filter((v) => isStaleReplica(v) && joining.includes(v.address)).map((v) => v.address),
        shards: masters.map((m) => ({ master: m, replicas: assigned.get(m)!.sort() })),
        warnings: pairing.warnings,
    };
}

/** A node the cluster still knows owns slots, but its pod is not among the nodes: those keys would be lost. */
export function departedOwnerRefusal(d: Departed): FormationRefused {
    return new FormationRefused(
        `node ${d.address} (${d.id}) owns ${d.slots} slots but is not among the nodes given (${d.knownBy.length} nodes still know it): ` +
            `its keys would be lost. Nothing was changed. Bring its pod back; pods are drained (slots moved off) before a scale-in removes them.`,
    );
}

/** A replica's master after the handovers: a handed-over shard's replicas all follow its new master. */
function masterAfter(topo: Topology, address: string, leaderOf: ReadonlyMap<string, string>): string | undefined {
    const led = leaderOf.get(address);
    if (led) return led; // an old master becomes its successor's replica
    const shard = topo.shards.find((s) => s.replicas.includes(address));
    if (!shard) return undefined;
    const leader = leaderOf.get(shard.master) ?? shard.master;
    return leader === address ? undefined : leader;
}

/** REPLICATE for every node whose master afterwards differs from the one it will have anyway. */
function replicateSteps(
    topo: Topology,
    shards: readonly Pairing[],
    leaderOf: ReadonlyMap<string, string>,
    idOf: ReadonlyMap<string, string>,
): Step[] {
    return shards.flatMap((s) =>
        s.replicas.flatMap((r): Step[] => {
            const before = masterAfter(topo, r, leaderOf);
            if (before === s.master) return [];
            return [
                {
                    kind: "replicate",
                    replica: r,
                    master: s.master,
                    masterId: lookup(idOf, s.master, "node id"),
                    ...(before ? { previousMaster: before } : {}),
                },
            ];
        }),
    );
}

/** Nodes a drain marked never to be promoted, and which stay after all (the scale-in was undone or failed). */
function failoverPhases(views: readonly NodeView[]): Phase[] {
    const marked = views.filter((v) => v.noFailover);
    if (marked.length === 0) return [];
    return [
        {
            title: `allowing failover again on ${marked.length} nodes a scale-in drain had marked (they stay)`,
            steps: marked.map((v) => ({ kind: "replica-failover", node: v.address, allowed: true })),
        },
    ];
}

function forgetPhases(members: readonly NodeView[], departed: readonly Departed[]): Phase[] {
    if (departed.length === 0) return [];
    const steps: Step[] = members
        .map((v) => ({
            node: v.address,
            departed: departed.filter((d) => d.knownBy.includes(v.address)).map((d) => ({ id: d.id, address: d.address })),
        }))
        .filter((f) => f.departed.length > 0)
        .map((f) => ({ kind: "forget", ...f }));
    return [
        {
            title: `forgetting ${departed.length} departed nodes on all ${steps.length} nodes that know them, at once (Redis bans a forgotten node for 60 s only)`,
            steps,
        },
    ];
}

function handoverPhases(handovers: readonly { master: string; replica: string }[], idOf: ReadonlyMap<string, string>): Phase[] {
    if (handovers.length === 0) return [];
    return [
        {
            title: `handing over ${handovers.length} shards to a replica away from the others (coordinated CLUSTER FAILOVER, each once its replica is in sync)`,
            steps: handovers.map((h) => ({
                kind: "handover",
                master: h.master,
                replica: h.replica,
                masterId: lookup(idOf, h.master, "node id"),
                replicaId: lookup(idOf, h.replica, "node id"),
            })),
        },
    ];
}

function replicatePhases(steps: readonly Step[]): Phase[] {
    if (steps.length === 0) return [];
    const moving = steps.filter((s) => s.kind === "replicate" && s.previousMaster !== undefined).length;
    return [{ title: `replicating: ${steps.length} replicas${moving ? `, ${moving} of them moving to another master` : ""}`, steps }];
}

function moveTitle(moves: readonly SlotMove[], layout: Layout): string {
    const receivers = new Set(moves.map((m) => m.to)).size;
    const total = slotsMoved(moves);
    if (layout.emptied.length > 0)
        return `emptying ${layout.emptied.length} masters: moving ${total} slots to ${receivers} masters with their keys`;
    return `rebalancing: moving ${total} slots to ${receivers} ${layout.newMasters.length ? "new " : ""}masters with their keys`;
}

function summaryOf(
    req: PlanRequest,
    layout: Layout,
    moves: readonly SlotMove[],
    replicates: readonly Step[],
    handovers: number,
    departed: readonly Departed[],
): string {
    const moving = replicates.filter((s) => s.kind === "replicate" && s.previousMaster !== undefined).length;
    const extras = [
        ...(layout.emptied.length ? [`${layout.emptied.length} masters emptied`] : []),
        ...(handovers ? [`${handovers} handovers`] : []),
        ...(moving ? [`${moving} replicas moving to another master`] : []),
        ...(departed.length ? [`${departed.length} departed nodes forgotten`] : []),
    ];
    return (
        `converge to ${req.masters} masters x ${req.replicasPerMaster} replicas: ${layout.newMasters.length} new masters, ` +
        `${replicates.length - moving} new replicas, ${slotsMoved(moves)} slots to move${extras.length ? `, ${extras.join(", ")}` : ""}`
    );
}
