/**
 * Reading the cluster: the inspection every run starts with, and the waits until all nodes know
 * each other, until the cluster is formed and until it is usable. Only reads; the checks themselves
 * are the pure functions of clusterState.ts.
 */
import {
    ClusterNodeEntry,
    NodeView,
    clusterStateOf,
    configNumberOf,
    configOf,
    formedPending,
    inHandshake,
    linkStatusOf,
    memoryInfoOf,
    parseClusterNodes,
    selfEntry,
    strayImports,
    usablePending,
} from "./clusterState";
import * as cmd from "./commands";
import { Surge, withoutSurgeEntries } from "./surge";
import { NodeTarget, Transport } from "./transport";
import { WaitOptions, waitFor } from "./wait";

/** Nodes to read and how to reach them. */
export interface Observed extends WaitOptions {
    readonly nodes: readonly NodeTarget[];
    readonly transport: Transport;
    /** The surge pod's node: never one of the nodes, its line ignored wherever it shows (surge.ts). */
    readonly surge?: Surge;
}

/** What else an inspection reads. */
export interface InspectOptions {
    /** INFO memory of every node (a scale-in checks that the keys fit). */
    readonly memory?: boolean;
}

/** What one node reports about itself and its peers, its keys and settings (and INFO memory when asked). */
export async function inspectNode(transport: Transport, node: NodeTarget, o: InspectOptions = {}): Promise<NodeView> {
    const [nodesText, keys, config, memory] = await Promise.all([
        cmd.send(transport, node, cmd.clusterNodes()),
        cmd.send(transport, node, cmd.dbSize()),
        cmd.send(transport, node, cmd.getPlanConfig()),
        o.memory ? cmd.send(transport, node, cmd.infoMemory()) : undefined,
    ]);
    const entries = parseClusterNodes(nodesText);
    const self = selfEntry(entries, node.address);
    const settings = configOf(config);
    return {
        address: node.address,
        self,
        peers: entries.filter((e) => e !== self),
        keys: Number(keys),
        nodeTimeoutMs: configNumberOf(`cluster-node-timeout\n${settings.get("cluster-node-timeout") ?? ""}`, "cluster-node-timeout"),
        noFailover: settings.get("cluster-replica-no-failover") === "yes",
        strayImportKeys: new Map<number, number>(),
        ...(memory !== undefined ? { memory: memoryInfoOf(memory) } : {}),
    };
}

/** What every node reports (see inspectNode), plus the keys of stray imports. Any node that cannot be read fails it. */
export async function inspect(transport: Transport, nodes: readonly NodeTarget[], o: InspectOptions = {}): Promise<NodeView[]> {
    return withStrayKeys(transport, nodes, await Promise.all(nodes.map((node) => inspectNode(transport, node, o))));
}

/** Like inspect, but a node that cannot be read is reported with its error instead of failing the rest (read-only). */
export async function inspectReachable(
    transport: Transport,
    nodes: readonly NodeTarget[],
): Promise<{ views: NodeView[]; unreachable: { address: string; error: string }[] }> {
    const results = await Promise.allSettled(nodes.map((node) => inspectNode(transport, node)));
    const reached = nodes.filter((_, i) => results[i].status === "fulfilled");
    const views = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const unreachable = results.flatMap((r, i) =>
        r.status === "rejected" ? [{ address: nodes[i].address, error: (r.reason as Error).message.split("\n")[0] }] : [],
    );
    return { views: await withStrayKeys(transport, reached, views), unreachable };
}

/** Only a move that never started needs its keys counted (rare: an interrupted scale-out). */
async function withStrayKeys(transport: Transport, nodes: readonly NodeTarget[], views: readonly NodeView[]): Promise<NodeView[]> {
    const stray = strayImports(views);
    return Promise.all(
        views.map(async (v, i) => {
            const slots = stray.get(v.self.id) ?? [];
            if (slots.length === 0) return v;
            const counts = await Promise.all(slots.map((slot) => cmd.send(transport, nodes[i], cmd.countKeysInSlot(slot))));
            return { ...v, strayImportKeys: new Map(slots.map((slot, k) => [slot, Number(counts[k])])) };
        }),
    );
}

/**
 * The surge pod's node as it says itself, to tell its line apart by node id; a pod that cannot be read
 * (restarting, not started) is named by its address alone, which is all a run then needs.
 */
export async function readSurge(transport: Transport, pod: NodeTarget): Promise<Surge> {
    const name = pod.target === pod.address ? pod.address : `${pod.target} (${pod.address})`;
    try {
        return {
            address: pod.address,
            name,
            self: selfEntry(parseClusterNodes(await cmd.send(transport, pod, cmd.clusterNodes())), pod.address),
        };
    } catch {
        return { address: pod.address, name };
    }
}

/** Waits until every node knows every node of `ids` (handshakes done). */
export async function waitAllKnown(o: Observed, ids: readonly string[]): Promise<void> {
    // A node that knows everyone stays so: only the others are asked again (less load on a busy mesh).
    const pending = new Set(o.nodes);
    await waitFor(
        `all ${o.nodes.length} nodes to know each other`,
        async () => {
            const missing: string[] = [];
            await Promise.all(
                [...pending].map(async (n) => {
                    const entries = parseClusterNodes(await cmd.send(o.transport, n, cmd.clusterNodes()));
                    const known = new Set(entries.filter((e) => !inHandshake(e)).map((e) => e.id));
                    const unknown = ids.filter((id) => !known.has(id));
                    if (unknown.length) missing.push(`${n.address} does not know ${unknown.length} nodes`);
                    else pending.delete(n);
                }),
            );
            return missing.length ? missing.join("; ") : undefined;
        },
        o,
    );
}

/** Waits until `replica` knows the node `masterId` as a master (REPLICATE is refused before). */
export async function waitKnowsMaster(
    o: Observed & { readonly replica: NodeTarget; readonly masterId: string; readonly master: string },
): Promise<void> {
    await waitFor(
        `${o.replica.address} to learn its master ${o.master}`,
        async () => {
            const known = parseClusterNodes(await cmd.send(o.transport, o.replica, cmd.clusterNodes())).find((e) => e.id === o.masterId);
            if (!known) return `${o.replica.address} does not know ${o.masterId} yet`;
            if (inHandshake(known) || !known.flags.includes("master"))
                return `${o.replica.address} sees ${o.masterId} as ${known.flags.join(",")}`;
            return undefined;
        },
        o,
    );
}

/**
 * Polls until the cluster over `nodes` is formed (all slots covered, same view of nodes, roles and
 * slots everywhere, every replica link up); returns the agreed view. The benchmark holds redis-cli
 * to exactly this condition.
 */
export async function waitUntilFormed(o: Observed): Promise<ClusterNodeEntry[]> {
    let agreed: ClusterNodeEntry[] = [];
    await waitFor(
        "the cluster to be formed (all slots covered, same view on every node, every replica link up)",
        async () => {
            const reports = await Promise.all(
                o.nodes.map(async (n) => {
                    const entries = withoutSurgeEntries(parseClusterNodes(await cmd.send(o.transport, n, cmd.clusterNodes())), o.surge);
                    const replica = entries.find((e) => e.flags.includes("myself"))?.masterId;
                    const link = replica ? linkStatusOf(await cmd.send(o.transport, n, cmd.infoReplication())) : "n/a";
                    return { n, entries, link };
                }),
            );
            return formedPending(reports, o.nodes.length, (view) => (agreed = view));
        },
        o,
    );
    return agreed;
}

/** cluster_state of every node, by address. */
export function readClusterStates(transport: Transport, nodes: readonly NodeTarget[]): Promise<(readonly [string, string])[]> {
    return Promise.all(nodes.map(async (n) => [n.address, clusterStateOf(await cmd.send(transport, n, cmd.clusterInfo()))] as const));
}

/** Polls until the cluster is usable: every node reports cluster_state:ok (clients get CLUSTERDOWN before). */
export async function waitUntilUsable(o: Observed): Promise<void> {
    await waitFor("cluster_state:ok on every node", async () => usablePending(await readClusterStates(o.transport, o.nodes)), o);
}
