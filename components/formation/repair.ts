/**
 * Re-pairing, pure: after failovers and rescheduled pods a replica can end up on its master's k8s
 * node or zone. Two moves fix that, cheapest first:
 *  - a handover inside the shard: a replica elsewhere takes over with a coordinated failover (no data
 *    moves; writes pause for the moment the master hands over its last writes);
 *  - a swap between two shards: each replica follows the other's master (CLUSTER REPLICATE; each
 *    resyncs its new master's data), made only when it separates strictly more pairs.
 */
import { PlanNode, separationRank } from "./placement";

/** A master and its replicas, by address. */
export interface Pairing {
    readonly master: string;
    readonly replicas: readonly string[];
}

export interface Repair {
    /** Coordinated failovers: `replica` takes over from `master`. */
    readonly handovers: readonly { readonly master: string; readonly replica: string }[];
    /** Replicas that follow another master afterwards (`from` is their master after the handovers). */
    readonly moves: readonly { readonly replica: string; readonly from: string; readonly to: string }[];
    /** The shards afterwards. */
    readonly shards: readonly Pairing[];
}

/** How a layout is judged: placement of every pair, and where each master sits. */
interface Scoring {
    readonly placeOf: (address: string) => PlanNode;
    readonly zonesVary: boolean;
}

const cost = (sc: Scoring, master: string, replica: string) => separationRank(sc.placeOf(master), sc.placeOf(replica), sc.zonesVary);
const shardCost = (sc: Scoring, master: string, replicas: readonly string[]) => replicas.reduce((k, r) => k + cost(sc, master, r), 0);

/**
 * The member of a shard that should lead it: among `eligible` members, the one whose pairs with all
 * the others are best separated; ties go to the current master (no handover for nothing), then to a
 * member whose k8s node hosts no other master, then to address order.
 */
export function chooseLeader(
    shard: Pairing,
    eligible: (address: string) => boolean,
    sc: Scoring,
    otherMasters: readonly string[],
): string | undefined {
    const members = [shard.master, ...shard.replicas];
    const crowded = (a: string) =>
        otherMasters.filter((m) => sc.placeOf(m).k8sNode !== undefined && sc.placeOf(m).k8sNode === sc.placeOf(a).k8sNode).length;
    const score = (a: string) => [
        shardCost(
            sc,
            a,
            members.filter((m) => m !== a),
        ),
        a === shard.master ? 0 : 1,
        crowded(a),
    ];
    let best: string | undefined;
    for (const a of members.filter(eligible)) if (best === undefined || lexLess(score(a), score(best))) best = a;
    return best;
}

/** Whether x sorts before y, comparing element by element. */
function lexLess(x: readonly number[], y: readonly number[]): boolean {
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i];
    return false;
}

/**
 * Better separated pairs for the given shards: handovers first (to a replica in `syncedReplicas`, the
 * ones already following that master), then swaps of replicas between shards while a swap separates
 * more pairs. Deterministic for the same input.
 */
export function improvePlacement(shards: readonly Pairing[], sc: Scoring, syncedReplicas: (master: string) => readonly string[]): Repair {
    const handovers: { master: string; replica: string }[] = [];
    const after = shards.map((s): Pairing => {
        if (shardCost(sc, s.master, s.replicas) === 0) return s;
        const others = shards.filter((o) => o !== s).map((o) => o.master);
        const leader = chooseLeader(s, (a) => a === s.master || syncedReplicas(s.master).includes(a), sc, others);
        if (!leader || leader === s.master) return s;
        handovers.push({ master: s.master, replica: leader });
        return { master: leader, replicas: [s.master, ...s.replicas.filter((r) => r !== leader)].sort() };
    });
    const masterOf = new Map(after.flatMap((s) => s.replicas.map((r) => [r, s.master] as const)));
    const swapped = swapReplicas(after, sc);
    const moves = swapped.flatMap((s) =>
        s.replicas.filter((r) => masterOf.get(r) !== s.master).map((r) => ({ replica: r, from: masterOf.get(r)!, to: s.master })),
    );
    return { handovers, moves, shards: swapped };
}

/** Swaps two replicas of different shards while that lowers the total cost; the best swap first. */
function swapReplicas(shards: readonly Pairing[], sc: Scoring): Pairing[] {
    const current = shards.map((s) => ({ master: s.master, replicas: [...s.replicas] }));
    for (let round = 0; round < current.length * current.length; round++) {
        let best: { gain: number; a: number; b: number; ra: string; rb: string } | undefined;
        for (let a = 0; a < current.length; a++) {
            for (let b = a + 1; b < current.length; b++) {
                for (const ra of current[a].replicas) {
                    for (const rb of current[b].replicas) {
                        const before = cost(sc, current[a].master, ra) + cost(sc, current[b].master, rb);
                        const gain = before - cost(sc, current[a].master, rb) - cost(sc, current[b].master, ra);
                        if (gain > 0 && (!best || gain > best.gain)) best = { gain, a, b, ra, rb };
                    }
                }
            }
        }
        if (!best) break;
        const { a, b, ra, rb } = best;
        current[a].replicas = [...current[a].replicas.filter((r) => r !== ra), rb].sort();
        current[b].replicas = [...current[b].replicas.filter((r) => r !== rb), ra].sort();
    }
    return current;
}
