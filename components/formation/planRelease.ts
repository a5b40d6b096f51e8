/**
 * The release of a scale-in's new surge pod, pure. A smaller shape moves the surge ordinal down onto a
 * pod that is a member now (4x1 -> 3x1: redis-6). The drain empties it like the other leaving pods, but
 * the StatefulSet keeps its pod (one beyond the shape), so nothing would ever make the cluster forget it
 * — and the formation, which ignores the surge, would not either. Once drained it is released: every
 * node that knows it forgets it at once (Redis bans a forgotten node for 60 s only, and one that still
 * knows it would gossip it back), then it resets itself and may be promoted again, as an idle surge must.
 * A leaving replica of it cannot forget its own master; it is reset too (its pod goes, with nothing the
 * cluster needs on it: the drain left no slots on the shard).
 */
import { NodeView } from "./clusterState";
import { FormationRefused, Phase, Plan, Step } from "./steps";

/** What a release is asked: the node whose pod stays, and the nodes that leave with it. */
export interface ReleaseRequest {
    readonly release: string;
    readonly leaving: readonly string[];
}

/** The release of `req.release` from the drained cluster `views` (see the module comment). */
export function planRelease(views: readonly NodeView[], req: ReleaseRequest): Plan {
    const node = views.find((v) => v.address === req.release);
    if (!node) throw new Error(`release: ${req.release} is not among the nodes given`);
    const { id } = node.self;
    const { address } = node;
    const followers = views.filter((v) => v.self.masterId === id);
    const staying = followers.filter((v) => !req.leaving.includes(v.address));
    if (staying.length) {
        throw new FormationRefused(
            `release: ${staying.map((v) => v.address).join(", ")} still replicate ${address}, whose pod becomes the surge pod; ` +
                `the drain should have re-paired ${staying.length === 1 ? "it" : "them"}. Nothing more was changed.`,
        );
    }
    const forgets: Step[] = views
        .filter((v) => v !== node && !followers.includes(v) && v.peers.some((p) => p.id === id))
        .map((v) => ({ kind: "forget", node: v.address, departed: [{ id, address }] }));
    const resets: Step[] = [
        ...followers.map((v): Step => ({ kind: "reset", node: v.address })),
        { kind: "replica-failover", node: address, allowed: true },
        { kind: "reset", node: address },
    ];
    const phases: Phase[] = [
        ...(forgets.length
            ? [
                  {
                      title: `forgetting ${address}, whose pod becomes the surge pod, on all ${forgets.length} nodes that know it, at once`,
                      steps: forgets,
                  },
              ]
            : []),
        {
            title: `resetting ${address}${followers.length ? ` and its ${followers.length} leaving replicas` : ""}: out of the cluster, may be promoted again`,
            steps: resets,
        },
    ];
    return {
        kind: "release",
        summary: `release ${address} from the cluster: its pod stays as the surge pod`,
        phases,
        cleanup: [],
        members: views.filter((v) => v !== node && !followers.includes(v)).map((v) => v.address),
        outcome: "released",
    };
}
