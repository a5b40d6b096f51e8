/** Planners for fresh clusters, pure: a new cluster, and one whose formation was interrupted half-way. */
import { SLOT_COUNT } from "../shape";
import { NodeView } from "./clusterState";
import { REDIS_MIN_REJOIN_DELAY_MS } from "./defaults";
import { FormationPlan, planFormation } from "./placement";
import { expandSlots, toRanges } from "./slots";
import {
    FormationRefused,
    lookup,
    Phase,
    Plan,
    PlanRequest,
    Step,
    announce,
    configuredNodeTimeout,
    planLeftoverRestores,
    refuseData,
    waitKnown,
} from "./steps";

/** A fresh cluster: placement, then epochs and slots, the mesh, replicas, and the wait until all know each other. */
export function planCreate(views: readonly NodeView[], req: PlanRequest): Plan {
    refuseData(views);
    const layout = planFormation(req.nodes, req.masters, req.replicasPerMaster);
    const view = viewGetter(views);
    const planned = layout.shards.flatMap((s) => [s.master, ...s.replicas]);
    const replicas = layout.shards.flatMap((s) =>
        s.replicas.map((r) => ({ replica: r, master: s.master, masterId: view(s.master).self.id })),
    );
    const large = planned.length > req.largeClusterNodes;
    const lowered = loweredMasters(
        views,
        layout.shards.map((s) => s.master),
        req,
    );
    const phases: Phase[] = [setupPhase(views, layout, planned, lowered, req)];
    if (large && replicas.length > 0) {
        phases.push({
            title: `pairing: ${replicas.length} replicas meet their masters and start syncing`,
            steps: replicas.map((p) => ({ kind: "pair", ...p })),
        });
    }
    phases.push(meshPhase(planned, large ? replicas : []));
    if (!large && replicas.length > 0)
        phases.push({ title: `replicating: ${replicas.length} replicas`, steps: replicas.map((p) => ({ kind: "replicate", ...p })) });
    phases.push(
        waitKnown(
            planned,
            planned.map((a) => view(a).self.id),
        ),
    );
    if (!large) phases.push(announce(planned));
    return {
        kind: "create",
        summary: `create a cluster of ${req.masters} masters x ${req.replicasPerMaster} replicas on ${planned.length} empty nodes`,
        phases,
        cleanup: lowered.map((node) => ({ kind: "restore-node-timeout", node, ms: configuredOf(views, node, req.formationNodeTimeoutMs) })),
        members: planned,
        outcome: "created",
        placementWarnings: layout.warnings,
    };
}

/** A planner's lookup of a node's view by address; a node it was not told of is a bug, said clearly. */
function viewGetter(views: readonly NodeView[]): (address: string) => NodeView {
    const byAddress = new Map(views.map((v) => [v.address, v]));
    return (address) => lookup(byAddress, address, "view of node");
}

/**
 * Everything sent to single nodes before they meet, in one phase (one batch per node): restores a killed
 * run left behind, the formation-time node timeout of the new masters, distinct config epochs (so no
 * epoch-collision round follows the MEETs; only possible while a node knows nobody) and the slots.
 */
function setupPhase(
    views: readonly NodeView[],
    layout: FormationPlan,
    planned: readonly string[],
    lowered: readonly string[],
    req: PlanRequest,
): Phase {
    const view = viewGetter(views);
    const epochs: Step[] = planned
        .map((node, i) => ({ node, epoch: i + 1 }))
        .filter(({ node }) => view(node).peers.length === 0 && view(node).self.configEpoch === 0)
        .map(({ node, epoch }) => ({ kind: "set-config-epoch", node, epoch }));
    return {
        title:
            `setting config epochs on ${epochs.length} nodes and assigning slots to ${layout.shards.length} masters` +
            (lowered.length ? ` (cluster-node-timeout ${req.formationNodeTimeoutMs} ms on them while forming)` : ""),
        steps: [
            ...planLeftoverRestores(views, req.formationNodeTimeoutMs, new Set(lowered)),
            ...lowered.map((node): Step => ({ kind: "lower-node-timeout", node, ms: req.formationNodeTimeoutMs })),
            ...epochs,
            ...layout.shards.map((s): Step => ({ kind: "add-slots", node: s.master, ranges: s.slots })),
        ],
    };
}

/**
 * Every pair meets directly (node i meets every node after it) instead of relying on gossip, which
 * needs several 100 ms cron rounds per hop: the mesh completes in about one handshake round trip.
 * Pairs that met already (`paired`) are left out.
 */
function meshPhase(planned: readonly string[], paired: readonly { replica: string; master: string }[]): Phase {
    const met = (a: string, b: string) => paired.some((p) => (p.replica === a && p.master === b) || (p.replica === b && p.master === a));
    const meets = planned.map((from, i) => ({ kind: "meet" as const, from, to: planned.slice(i + 1).filter((to) => !met(from, to)) }));
    const handshakes = meets.reduce((k, m) => k + m.to.length, 0);
    return {
        title: `meeting: ${handshakes} direct handshakes between ${planned.length} nodes`,
        steps: meets.filter((m) => m.to.length > 0),
    };
}

/** The node's configured timeout: its own value, unless a killed run left it at the formation value. */
function configuredOf(views: readonly NodeView[], address: string, formationMs: number): number {
    const own = viewGetter(views)(address).nodeTimeoutMs;
    return own === formationMs ? (configuredNodeTimeout(views, formationMs) ?? own) : own;
}

/**
 * The new masters whose node timeout is lowered while forming: each waits its rejoin delay (the node
 * timeout, clamped to 500-5000 ms) after it last saw itself in the minority, which it does until it
 * owns slots. Only with replicas, which keep the configured value and so record it for a later run.
 */
function loweredMasters(views: readonly NodeView[], masters: readonly string[], req: PlanRequest): string[] {
    if (req.replicasPerMaster === 0) return [];
    return masters.filter((m) => configuredOf(views, m, req.formationNodeTimeoutMs) > REDIS_MIN_REJOIN_DELAY_MS);
}

/** A fresh formation stopped half-way (some slots assigned): continue it if it matches the plan, else refuse. */
export function planResume(views: readonly NodeView[], req: PlanRequest, covered: number): Plan {
    const layout = planFormation(req.nodes, req.masters, req.replicasPerMaster);
    const plannedOwner = new Map<number, string>();
    for (const s of layout.shards) for (const slot of expandSlots(s.slots)) plannedOwner.set(slot, s.master);
    const consistent = views.every(
        (v) => v.keys === 0 && expandSlots(v.self.slotRanges).every((slot) => plannedOwner.get(slot) === v.address),
    );
    if (!consistent) {
        throw new FormationRefused(
            `cluster: ${covered < SLOT_COUNT ? `only ${covered} of ${SLOT_COUNT} slots are covered` : `all ${SLOT_COUNT} slots are assigned but their owners have not all met`} and the assignment is not one this engine started; ` +
                `repair it with \`redis-cli --cluster fix\` first. Nothing was changed.`,
        );
    }
    const view = viewGetter(views);
    const idOf = (a: string) => view(a).self.id;
    const missing: Step[] = layout.shards.flatMap((s) => {
        const owned = new Set(expandSlots(view(s.master).self.slotRanges));
        const ranges = toRanges(expandSlots(s.slots).filter((x) => !owned.has(x)));
        return ranges.length ? [{ kind: "add-slots" as const, node: s.master, ranges }] : [];
    });
    const planned = layout.shards.flatMap((s) => [s.master, ...s.replicas]);
    const first = layout.shards[0].master;
    const replicas: Step[] = layout.shards.flatMap((s) =>
        s.replicas
            .filter((r) => view(r).self.masterId !== idOf(s.master))
            .map((r) => ({ kind: "replicate" as const, replica: r, master: s.master, masterId: idOf(s.master) })),
    );
    const restores = planLeftoverRestores(views, req.formationNodeTimeoutMs);
    const single = [
        ...(restores.length ? [`restoring cluster-node-timeout on ${restores.length} nodes an interrupted run had lowered`] : []),
        ...(missing.length ? [`assigning the ${SLOT_COUNT - covered} missing slots`] : []),
    ];
    const phases: Phase[] = [
        { title: single.join(" and "), steps: [...restores, ...missing] },
        {
            title: `meeting: ${first} meets the other ${planned.length - 1} nodes`,
            steps: [{ kind: "meet", from: first, to: planned.filter((n) => n !== first) }],
        },
        { title: `replicating: ${replicas.length} replicas`, steps: replicas },
    ];
    return {
        kind: "resume",
        summary: `resuming an interrupted formation (${covered} slots were assigned)`,
        phases: phases.filter((p) => p.steps.length > 0),
        cleanup: [],
        members: planned,
        outcome: "completed",
        placementWarnings: layout.warnings,
    };
}
