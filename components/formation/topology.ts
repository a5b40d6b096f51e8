/**
 * The live cluster as shards, pure: who is master of which slots and who replicates whom, read off
 * each node's own `myself` line (a node is the authority on its own role, also right after a
 * failover), plus what does not fit: masters without slots, replicas whose master is not among the
 * nodes, and departed nodes (peers the nodes still know whose pods are gone). The drift report,
 * the converge planner and the scale-in drain all start from this.
 */
import { NodeView, inHandshake } from "./clusterState";
import { SLOT_COUNT } from "../shape";
import { SlotRange } from "./slots";

/** A master that owns slots, with its replicas (addresses, in address order). */
export interface Shard {
    readonly master: string;
    readonly masterId: string;
    readonly slots: number;
    readonly slotRanges: readonly SlotRange[];
    readonly replicas: readonly string[];
}

/** A node the given nodes still know although it is not one of them (its pod was removed). */
export interface Departed {
    readonly id: string;
    readonly address: string;
    /** Slots it owns in the view of the node that says the most (a departed master still holding slots). */
    readonly slots: number;
    /** Given nodes whose table still has it. */
    readonly knownBy: readonly string[];
}

export interface Topology {
    /** Slot-owning masters, by address. */
    readonly shards: readonly Shard[];
    /** Masters that own no slots (free for a new role). */
    readonly empty: readonly string[];
    /** Replicas whose master is none of the given nodes. */
    readonly orphans: readonly { readonly address: string; readonly masterId: string }[];
    readonly departed: readonly Departed[];
    /** Node id by address, of the given nodes. */
    readonly idOf: ReadonlyMap<string, string>;
}

/** The shards and misfits of the given nodes' views (any order). */
export function topology(views: readonly NodeView[]): Topology {
    const byId = new Map(views.map((v) => [v.self.id, v]));
    const replicasOf = new Map<string, string[]>();
    const orphans: { address: string; masterId: string }[] = [];
    for (const v of views) {
        const masterId = v.self.masterId;
        if (masterId === undefined) continue;
        if (byId.has(masterId)) replicasOf.set(masterId, [...(replicasOf.get(masterId) ?? []), v.address]);
        else orphans.push({ address: v.address, masterId });
    }
    const masters = views.filter((v) => v.self.masterId === undefined);
    const shards = masters
        .filter((v) => v.self.slotCount > 0)
        .map((v) => ({
            master: v.address,
            masterId: v.self.id,
            slots: v.self.slotCount,
            slotRanges: v.self.slotRanges,
            replicas: (replicasOf.get(v.self.id) ?? []).sort(),
        }))
        .sort((a, b) => a.master.localeCompare(b.master));
    const claimed = shards.reduce((k, s) => k + s.slots, 0);
    if (claimed > SLOT_COUNT) {
        throw new Error(
            `cluster: the nodes claim ${claimed} slots in all, more than ${SLOT_COUNT}: they disagree on who owns some (a failover still spreading?); run again once they agree`,
        );
    }
    return {
        shards,
        empty: masters
            .filter((v) => v.self.slotCount === 0)
            .map((v) => v.address)
            .sort(),
        orphans: orphans.sort((a, b) => a.address.localeCompare(b.address)),
        departed: departedPeers(views),
        idOf: new Map(views.map((v) => [v.address, v.self.id])),
    };
}

/** Peers (past the handshake) that are none of the given nodes, by id: the address may have moved. */
export function departedPeers(views: readonly NodeView[]): Departed[] {
    const given = new Set(views.map((v) => v.self.id));
    const found = new Map<string, { id: string; address: string; slots: number; knownBy: string[] }>();
    for (const v of views) {
        for (const p of v.peers) {
            if (given.has(p.id) || inHandshake(p)) continue;
            const d = found.get(p.id) ?? { id: p.id, address: p.address, slots: 0, knownBy: [] };
            d.slots = Math.max(d.slots, p.slotCount);
            d.knownBy.push(v.address);
            found.set(p.id, d);
        }
    }
    return [...found.values()].sort((a, b) => a.address.localeCompare(b.address) || a.id.localeCompare(b.id));
}

/** The shard whose master or replica `address` is, or undefined. */
export function shardOf(t: Pick<Topology, "shards">, address: string): Shard | undefined {
    return t.shards.find((s) => s.master === address || s.replicas.includes(address));
}
