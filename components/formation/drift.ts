/**
 * Drift, pure: what the live cluster does differently from the requested shape and a healthy cluster,
 * as data (a kind, the nodes, a sentence), read by `pulumi refresh` (the formation's read) and by
 * `npm run local -- status`. Whether the next `pulumi up` converges it is the converge planner's
 * answer, not this module's; this only observes.
 */
import { SLOT_COUNT } from "../shape";
import { NodeView } from "./clusterState";
import { PlanNode, separationRank, zonesVary } from "./placement";
import { planRebalance, slotsMoved } from "./planExisting";
import { expandSlots } from "./slots";
import { Topology, topology } from "./topology";

export const DRIFT_KINDS = [
    "unreachable",
    "cluster-state",
    "surge-serving",
    "slot-conflict",
    "slots-uncovered",
    "open-slots",
    "not-joined",
    "missing-master",
    "extra-master",
    "empty-master",
    "missing-replica",
    "surplus-replica",
    "orphan-replica",
    "departed-node",
    "co-located",
    "uneven-slots",
    "failover-disabled",
] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

/** One difference, with the nodes it concerns (as `label` names them). */
export interface DriftItem {
    readonly kind: DriftKind;
    readonly nodes: readonly string[];
    readonly message: string;
}

/** What drift is judged by. */
export interface DriftInput {
    /** Views of the nodes that answered. */
    readonly views: readonly NodeView[];
    /** cluster_state by address, of the nodes that answered. */
    readonly states: readonly (readonly [address: string, state: string])[];
    readonly unreachable: readonly { readonly address: string; readonly error: string }[];
    readonly masters: number;
    readonly replicasPerMaster: number;
    /** Every node that should be in the cluster, with where it runs. */
    readonly nodes: readonly PlanNode[];
    /** How a node is named in messages (a pod name); default its address. */
    readonly label?: (address: string) => string;
    /** The surge pod's node while it serves slots after a takeover (surge.ts surgeServing); `views` never include it. */
    readonly surgeServing?: { readonly address: string; readonly message: string };
}

/** Every difference found, in DRIFT_KINDS order; empty for a healthy cluster of the requested shape. */
export function driftOf(d: DriftInput): DriftItem[] {
    const label = d.label ?? ((a: string) => a);
    const items: DriftItem[] = [];
    const add = (kind: DriftKind, nodes: readonly string[], message: string) => items.push({ kind, nodes: nodes.map(label), message });
    for (const u of d.unreachable) add("unreachable", [u.address], `${label(u.address)} cannot be read: ${u.error}`);
    const notOk = d.states.filter(([, st]) => st !== "ok");
    if (notOk.length)
        add(
            "cluster-state",
            notOk.map(([a]) => a),
            `cluster_state is not ok on ${notOk.map(([a, st]) => `${label(a)} (${st})`).join(", ")}`,
        );
    if (d.surgeServing) add("surge-serving", [d.surgeServing.address], d.surgeServing.message);
    let topo: Topology;
    try {
        topo = topology(d.views);
    } catch (e) {
        // Two nodes claiming one slot: nothing else can be judged until they agree.
        add("slot-conflict", [], (e as Error).message);
        return items;
    }
    const covered = topo.shards.reduce((k, s) => k + s.slots, 0);
    if (covered < SLOT_COUNT) add("slots-uncovered", [], `only ${covered} of ${SLOT_COUNT} slots are served by the nodes that answered`);
    const open = d.views.filter((v) => v.self.migrating.size + v.self.importing.size > 0);
    for (const v of open) {
        const slots = [...v.self.migrating.keys(), ...v.self.importing.keys()].sort((a, b) => a - b);
        add(
            "open-slots",
            [v.address],
            `${label(v.address)} has ${slots.length} slots open (migrating or importing): ${slots.slice(0, 10).join(", ")}${slots.length > 10 ? ", …" : ""}`,
        );
    }
    membershipDrift(d, topo, add, label);
    replicaDrift(d, topo, add, label);
    if (topo.shards.length === d.masters && covered === SLOT_COUNT) {
        const moves = planRebalance(new Map(topo.shards.map((s) => [s.master, expandSlots(s.slotRanges)])));
        if (moves.length)
            add(
                "uneven-slots",
                topo.shards.map((s) => s.master),
                `slots are not evenly shared: ${slotsMoved(moves)} slots would move to even them out`,
            );
    }
    const marked = d.views.filter((v) => v.noFailover);
    if (marked.length)
        add(
            "failover-disabled",
            marked.map((v) => v.address),
            `${marked.map((v) => label(v.address)).join(", ")} may not be promoted (cluster-replica-no-failover yes, left by a scale-in drain)`,
        );
    return items.sort((a, b) => DRIFT_KINDS.indexOf(a.kind) - DRIFT_KINDS.indexOf(b.kind));
}

type Add = (kind: DriftKind, nodes: readonly string[], message: string) => void;

/** Masters too few or too many, nodes outside the cluster, departed nodes still known. */
function membershipDrift(d: DriftInput, topo: Topology, add: Add, label: (a: string) => string): void {
    const known = new Set(d.views.flatMap((v) => (v.self.slotCount > 0 ? [v.self.id, ...v.peers.map((p) => p.id)] : [])));
    const outside = d.views.filter((v) => !known.has(v.self.id));
    if (topo.shards.length > 0 && outside.length)
        add(
            "not-joined",
            outside.map((v) => v.address),
            `${outside.map((v) => label(v.address)).join(", ")} ${outside.length === 1 ? "is" : "are"} not part of the cluster`,
        );
    if (topo.shards.length > 0 && topo.shards.length < d.masters)
        add("missing-master", [], `${topo.shards.length} masters own slots; ${d.masters} are requested`);
    if (topo.shards.length > d.masters) {
        const extra = [...topo.shards]
            .sort((a, b) => a.slots - b.slots || b.master.localeCompare(a.master))
            .slice(0, topo.shards.length - d.masters);
        add(
            "extra-master",
            extra.map((s) => s.master),
            `${topo.shards.length} masters own slots; ${d.masters} are requested (${extra.map((s) => `${label(s.master)} with ${s.slots}`).join(", ")})`,
        );
    }
    const empty = topo.empty.filter((a) => known.has(topo.idOf.get(a) ?? ""));
    if (empty.length)
        add("empty-master", empty, `${empty.map(label).join(", ")} ${empty.length === 1 ? "is a master" : "are masters"} without slots`);
    for (const dep of topo.departed) {
        add(
            "departed-node",
            dep.knownBy,
            `${dep.knownBy.length} nodes still know ${dep.address} (${dep.id}), which is none of the pods${dep.slots ? ` and owns ${dep.slots} slots` : ""}`,
        );
    }
}

/** Shards without their replicas or with too many, replicas of nothing, and pairs on one k8s node or zone. */
function replicaDrift(d: DriftInput, topo: Topology, add: Add, label: (a: string) => string): void {
    for (const s of topo.shards) {
        if (s.replicas.length < d.replicasPerMaster)
            add(
                "missing-replica",
                [s.master],
                `${label(s.master)} has ${s.replicas.length} replicas; ${d.replicasPerMaster} are requested`,
            );
        if (s.replicas.length > d.replicasPerMaster)
            add(
                "surplus-replica",
                [s.master, ...s.replicas],
                `${label(s.master)} has ${s.replicas.length} replicas; ${d.replicasPerMaster} are requested`,
            );
    }
    for (const o of topo.orphans)
        add("orphan-replica", [o.address], `${label(o.address)} replicates ${o.masterId}, which is none of the pods`);
    const place = new Map(d.nodes.map((n) => [n.address, n]));
    const vary = zonesVary(d.nodes);
    for (const s of topo.shards) {
        const m = place.get(s.master);
        for (const r of s.replicas) {
            const rp = place.get(r);
            if (!m || !rp) continue;
            const rank = separationRank(m, rp, vary);
            if (rank === 2)
                add("co-located", [s.master, r], `replica ${label(r)} shares k8s node ${rp.k8sNode} with its master ${label(s.master)}`);
            else if (rank === 1)
                add("co-located", [s.master, r], `replica ${label(r)} shares zone ${rp.zone} with its master ${label(s.master)}`);
        }
    }
}
