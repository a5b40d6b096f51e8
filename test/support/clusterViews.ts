/**
 * Cluster fixtures for the planners' unit tests: a described cluster becomes what each node would
 * answer to CLUSTER NODES (parsed by the real parser), DBSIZE and CONFIG GET, as NodeView[].
 */
import { NodeView, parseClusterNodes } from "../../components/formation/clusterState";
import { PlanNode } from "../../components/formation/placement";
import { PlanRequest } from "../../components/formation/plan";
import { FORMATION_DEFAULTS } from "../../components/formation/defaults";

export interface FixtureNode {
    /** Last address octet: the node is 10.0.0.<n>:6379 with id "n<n>" padded to 40 hex-like characters. */
    readonly n: number;
    /** Master's n for a replica. */
    readonly replicaOf?: number;
    /** Owned slots as CLUSTER NODES prints them, e.g. "0-5460". */
    readonly slots?: string;
    /** Open slots: `[slot->-id]` / `[slot-<-id]` fields are built from these. */
    readonly migrating?: readonly (readonly [slot: number, toN: number])[];
    readonly importing?: readonly (readonly [slot: number, fromN: number])[];
    readonly keys?: number;
    readonly nodeTimeoutMs?: number;
    /** cluster-replica-no-failover yes (a drain marked it). */
    readonly noFailover?: boolean;
    readonly configEpoch?: number;
    /** Nodes this one knows besides itself (default: every node that is a member, see `members`). */
    readonly knows?: readonly number[];
    /** Keys in stray imported slots (COUNTKEYSINSLOT). */
    readonly strayImportKeys?: readonly (readonly [slot: number, keys: number])[];
    readonly k8sNode?: string;
    readonly zone?: string;
}

export const addressOf = (n: number) => `10.0.0.${n}:6379`;
export const idOf = (n: number) => `${String(n).padStart(2, "0")}${"a".repeat(38)}`;

function line(f: FixtureNode, myself: boolean): string {
    const role = `${myself ? "myself," : ""}${f.replicaOf === undefined ? "master" : "slave"}`;
    const open = [
        ...(f.migrating ?? []).map(([slot, to]) => `[${slot}->-${idOf(to)}]`),
        ...(f.importing ?? []).map(([slot, from]) => `[${slot}-<-${idOf(from)}]`),
    ];
    const master = f.replicaOf === undefined ? "-" : idOf(f.replicaOf);
    return [
        idOf(f.n),
        `${addressOf(f.n)}@16379`,
        role,
        master,
        "0",
        "0",
        String(f.configEpoch ?? 0),
        "connected",
        ...(f.slots ? f.slots.split(" ") : []),
        ...open,
    ].join(" ");
}

/**
 * Views of every node. A node knows the nodes in its `knows`, or else every node when `meshed` is true
 * (a formed cluster), or else only itself (fresh nodes).
 */
export function clusterViews(nodes: readonly FixtureNode[], meshed: boolean): NodeView[] {
    const byN = new Map(nodes.map((f) => [f.n, f]));
    return nodes.map((f) => {
        const others = f.knows ?? (meshed ? nodes.map((o) => o.n).filter((n) => n !== f.n) : []);
        const text = [line(f, true), ...others.map((n) => line(byN.get(n) ?? { n }, false))].join("\n");
        const entries = parseClusterNodes(text);
        return {
            address: addressOf(f.n),
            self: entries[0],
            peers: entries.slice(1),
            keys: f.keys ?? 0,
            nodeTimeoutMs: f.nodeTimeoutMs ?? 1000,
            noFailover: f.noFailover ?? false,
            strayImportKeys: new Map(f.strayImportKeys ?? []),
        };
    });
}

/** Fresh, empty nodes 1..count that know nobody. */
export const freshNodes = (count: number, nodeTimeoutMs = 1000): FixtureNode[] =>
    Array.from({ length: count }, (_, i) => ({ n: i + 1, nodeTimeoutMs }));

export const planNodes = (nodes: readonly FixtureNode[]): PlanNode[] =>
    nodes.map((f) => ({ address: addressOf(f.n), ...(f.k8sNode ? { k8sNode: f.k8sNode } : {}), ...(f.zone ? { zone: f.zone } : {}) }));

/** A request over `nodes` with the engine's defaults. */
export function request(
    nodes: readonly FixtureNode[],
    masters: number,
    replicasPerMaster: number,
    over: Partial<PlanRequest> = {},
): PlanRequest {
    return {
        nodes: planNodes(nodes),
        masters,
        replicasPerMaster,
        largeClusterNodes: FORMATION_DEFAULTS.largeClusterNodes,
        formationNodeTimeoutMs: FORMATION_DEFAULTS.formationNodeTimeoutMs,
        ...over,
    };
}

/**
 * A formed 3x1 cluster in the planner's own layout for six nodes without placement data: masters 1-3
 * own even ranges, and the matching pairs them with replicas 6, 5 and 4.
 */
export function formed3x1(over: (f: FixtureNode) => FixtureNode = (f) => f): FixtureNode[] {
    return [
        { n: 1, slots: "0-5460" },
        { n: 2, slots: "5461-10921" },
        { n: 3, slots: "10922-16383" },
        { n: 4, replicaOf: 3 },
        { n: 5, replicaOf: 2 },
        { n: 6, replicaOf: 1 },
    ].map(over);
}
