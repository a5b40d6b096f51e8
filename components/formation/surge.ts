/**
 * The surge pod (shape.ts surgeOrdinal), pure: one pod beyond the shape's that no formation ever makes
 * a member. A stopping pod's preStop recruits it as a replica of the shard about to lose its only other
 * in-sync copy, and its own agent makes it leave again; rarely it takes its shard over and serves slots
 * until that agent hands them back. The engines see the cluster through `withoutSurge`, applied where
 * the views are read, so no planner needs to know it: it is never refused as foreign, never forgotten
 * as departed, never counted as a replica. While it serves slots a run refuses (`surgeServing`), as the
 * planners would otherwise see those slots as uncovered, or owned by a departed node.
 */
import { ClusterNodeEntry, NodeView } from "./clusterState";
import { FormationRefused } from "./steps";

/** The surge pod's node as a run sees it. */
export interface Surge {
    /** ip:port of its pod (from the pod list), as Redis announces it. */
    readonly address: string;
    /** How messages name it (its pod, or its address). */
    readonly name: string;
    /**
     * What it says of itself, when its pod could be read: its node id is then how peers' lines are told
     * apart, as an address may have moved with a restart. Without it, peers are matched by address.
     */
    readonly self?: ClusterNodeEntry;
}

/** Whether a CLUSTER NODES line is the surge's node. */
export function isSurgeEntry(surge: Surge, entry: Pick<ClusterNodeEntry, "id" | "address">): boolean {
    return surge.self ? entry.id === surge.self.id : entry.address === surge.address;
}

/** Slots the surge serves, as it says itself (also through a view of its own address) or as the node that says the most. */
export function surgeSlots(views: readonly NodeView[], surge: Surge): number {
    const seen = views.flatMap((v) => [v.self, ...v.peers]).filter((e) => isSurgeEntry(surge, e));
    const own = views.filter((v) => v.address === surge.address).map((v) => v.self);
    return Math.max(surge.self?.slotCount ?? 0, ...[...seen, ...own].map((e) => e.slotCount));
}

/** Why no run may act while the surge serves slots, or undefined when it serves none. */
export function surgeServing(views: readonly NodeView[], surge: Surge | undefined): string | undefined {
    if (!surge) return undefined;
    const slots = surgeSlots(views, surge);
    if (slots === 0) return undefined;
    return (
        `the surge pod ${surge.name} serves ${slots} slots after a takeover (its shard's master failed while it was the only ` +
        `in-sync replica); its agent hands them back to a member within seconds`
    );
}

/** The views without the surge: its own view dropped, its line dropped from every other node's peers. */
export function withoutSurge(views: readonly NodeView[], surge: Surge | undefined): NodeView[] {
    if (!surge) return [...views];
    return views
        .filter((v) => v.address !== surge.address && !isSurgeEntry(surge, v.self))
        .map((v) => {
            const peers = withoutSurgeEntries(v.peers, surge);
            return peers.length === v.peers.length ? v : { ...v, peers };
        });
}

/** CLUSTER NODES lines without the surge's (the "formed" check counts and compares them). */
export function withoutSurgeEntries<E extends Pick<ClusterNodeEntry, "id" | "address">>(
    entries: readonly E[],
    surge: Surge | undefined,
): E[] {
    return surge ? entries.filter((e) => !isSurgeEntry(surge, e)) : [...entries];
}

/** The views the engines plan from: refused (FormationRefused, nothing sent) while the surge serves slots. */
export function surgeFree(views: readonly NodeView[], surge: Surge | undefined): NodeView[] {
    const serving = surgeServing(views, surge);
    if (serving) throw new FormationRefused(`${serving}. Nothing was changed; run again.`);
    return withoutSurge(views, surge);
}
