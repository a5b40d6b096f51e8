/**
 * Placement, pure: which nodes become masters, which slot ranges each master owns, and which
 * replica follows which master — placed so that a replica never shares a Kubernetes node (nor a
 * zone, when the nodes span zones) with its own master whenever the placement allows it.
 * plan.ts turns a placement into the steps that apply it.
 */
import { podCount, shapeProblems } from "../shape";
import { SlotRange, splitSlots } from "./slots";

/** A Redis node as the planner sees it. */
export interface PlanNode {
    /** host:port the node is reached at (unique key). */
    readonly address: string;
    /** Kubernetes node the pod runs on (absent locally). */
    readonly k8sNode?: string;
    /** topology.kubernetes.io/zone of that Kubernetes node, when known. */
    readonly zone?: string;
}

export interface ShardPlan {
    readonly master: string;
    readonly slots: readonly SlotRange[];
    readonly replicas: readonly string[];
}

/** Where a fresh cluster's masters, slots and replicas go. */
export interface FormationPlan {
    readonly shards: readonly ShardPlan[];
    /** Nodes beyond masters × (1 + replicas); left out of the cluster. */
    readonly spare: readonly string[];
    /** True when every replica is on another k8s node (and zone, where zones vary) than its master. */
    readonly placementOk: boolean;
    /** One line per pairing that could not be separated, and why. */
    readonly warnings: readonly string[];
}

/** Validates the requested shape against the available nodes; throws a clear error. */
export function validateShape(nodeCount: number, masters: number, replicasPerMaster: number): void {
    const problems = shapeProblems({ masters, replicasPerMaster });
    if (problems.length > 0) throw new Error(problems.map((p) => `${p.field}: ${p.reason}`).join("; "));
    const needed = podCount({ masters, replicasPerMaster });
    if (nodeCount < needed) {
        throw new Error(
            `nodes: ${masters} masters x (1 + ${replicasPerMaster} replicas) need ${needed} nodes, but only ${nodeCount} are available`,
        );
    }
}

/** Whether the nodes span more than one zone (then zones, not only k8s nodes, keep replicas from their masters). */
export const zonesVary = (nodes: readonly PlanNode[]) => new Set(nodes.map((n) => n.zone).filter((z): z is string => !!z)).size > 1;

/**
 * Orders candidates so consecutive picks spread over zones first, then k8s nodes:
 * masters taken from the front of this order land on as many zones/nodes as possible.
 */
export function spreadOrder<T extends PlanNode>(nodes: readonly T[]): T[] {
    const groups = new Map<string, T[]>();
    for (const n of nodes) {
        const key = `${n.zone ?? ""}\u0000${n.k8sNode ?? n.address}`;
        const list = groups.get(key) ?? [];
        list.push(n);
        groups.set(key, list);
    }
    // Interleave groups zone by zone so two picks in a row rarely share a zone.
    const byZone = new Map<string, T[][]>();
    for (const [key, list] of groups) {
        const zone = key.split("\u0000")[0];
        const zoneGroups = byZone.get(zone) ?? [];
        zoneGroups.push(list);
        byZone.set(zone, zoneGroups);
    }
    const zoneQueues = [...byZone.values()].map((zoneGroups) => interleave(zoneGroups));
    return interleave(zoneQueues);
}

function interleave<T>(lists: readonly (readonly T[])[]): T[] {
    const out: T[] = [];
    const max = Math.max(0, ...lists.map((l) => l.length));
    for (let i = 0; i < max; i++) for (const l of lists) if (i < l.length) out.push(l[i]);
    return out;
}

type Separation = "zone-and-node" | "node" | "none";
const SEPARATION_RANK: Record<Separation, number> = { "zone-and-node": 0, node: 1, none: 2 };

/** 0 when a replica is on another k8s node and zone than its master, 1 on another node in the same zone, 2 on the same node. */
export function separationRank(master: PlanNode, replica: PlanNode, zonesVary: boolean): number {
    return SEPARATION_RANK[separation(master, replica, zonesVary)];
}

function separation(master: PlanNode, replica: PlanNode, zonesVary: boolean): Separation {
    const sameNode = master.k8sNode !== undefined && master.k8sNode === replica.k8sNode;
    if (sameNode) return "none";
    const sameZone = zonesVary && master.zone !== undefined && master.zone === replica.zone;
    return sameZone ? "node" : "zone-and-node";
}

/**
 * Assigns replica seats (one per master × replicasPerMaster) to candidate nodes with
 * a maximum bipartite matching, first with the strict rule (other node and other
 * zone), then relaxing for seats still empty. Returns candidate index per seat.
 */
function matchSeats(seatMasters: readonly PlanNode[], candidates: readonly PlanNode[], zonesVary: boolean): number[] {
    const seatOf: number[] = new Array(candidates.length).fill(-1);
    const candidateOf: number[] = new Array(seatMasters.length).fill(-1);
    const rank = (seat: number, c: number) => SEPARATION_RANK[separation(seatMasters[seat], candidates[c], zonesVary)];
    // An occupant is only moved to an edge at least as well separated as its current one,
    // so relaxing the rule for a new seat never degrades a pair placed earlier.
    const tryAssign = (seat: number, maxRank: number, visited: boolean[]): boolean => {
        for (let c = 0; c < candidates.length; c++) {
            if (visited[c] || rank(seat, c) > maxRank) continue;
            visited[c] = true;
            const occupant = seatOf[c];
            if (occupant === -1 || tryAssign(occupant, rank(occupant, c), visited)) {
                seatOf[c] = seat;
                candidateOf[seat] = c;
                return true;
            }
        }
        return false;
    };
    for (let tier = 0; tier <= 2; tier++) {
        for (let seat = 0; seat < seatMasters.length; seat++) {
            if (candidateOf[seat] === -1) tryAssign(seat, tier, new Array(candidates.length).fill(false));
        }
    }
    return candidateOf;
}

/** Plans a fresh cluster over `nodes`. Deterministic for the same input order. */
export function planFormation(nodes: readonly PlanNode[], masters: number, replicasPerMaster: number): FormationPlan {
    validateShape(nodes.length, masters, replicasPerMaster);
    const addresses = new Set<string>();
    for (const n of nodes) {
        if (addresses.has(n.address)) throw new Error(`nodes: address ${n.address} appears twice`);
        addresses.add(n.address);
    }
    const ordered = spreadOrder(nodes);
    const masterNodes = ordered.slice(0, masters);
    const rest = ordered.slice(masters);
    const replicas = pairReplicas(masterNodes, rest, replicasPerMaster, zonesVary(nodes));
    const ranges = splitSlots(masters);
    const shards = masterNodes.map((m, i) => ({ master: m.address, slots: [ranges[i]], replicas: replicas.byMaster[i] }));
    return { shards, spare: replicas.unused, placementOk: replicas.warnings.length === 0, warnings: replicas.warnings };
}

/** Pairs `perMaster` replicas with each master from `candidates`; reports every pairing that shares a node/zone. */
export function pairReplicas(
    masterNodes: readonly PlanNode[],
    candidates: readonly PlanNode[],
    perMaster: number,
    zonesVary: boolean,
): { byMaster: string[][]; unused: string[]; warnings: string[] } {
    const seatMasters = masterNodes.flatMap((m) => new Array<PlanNode>(perMaster).fill(m));
    if (candidates.length < seatMasters.length) {
        throw new Error(`nodes: ${seatMasters.length} replicas are needed but only ${candidates.length} nodes are free`);
    }
    const chosen = matchSeats(seatMasters, candidates, zonesVary);
    const byMaster: string[][] = masterNodes.map(() => []);
    const warnings: string[] = [];
    chosen.forEach((c, seat) => {
        const master = seatMasters[seat];
        const replica = candidates[c];
        byMaster[Math.floor(seat / perMaster)].push(replica.address);
        const sep = separation(master, replica, zonesVary);
        if (sep === "none") {
            warnings.push(
                `replica ${replica.address} shares k8s node ${replica.k8sNode} with its master ${master.address}: no free node elsewhere`,
            );
        } else if (sep === "node") {
            warnings.push(
                `replica ${replica.address} shares zone ${replica.zone} with its master ${master.address}: no free node in another zone`,
            );
        }
    });
    const used = new Set(chosen);
    const unused = candidates.filter((_, i) => !used.has(i)).map((n) => n.address);
    return { byMaster, unused, warnings };
}
