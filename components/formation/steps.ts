/**
 * The plan model, pure: every action the engine takes on a cluster is first a Plan — phases of
 * typed steps — built by the planners (planFresh.ts, planExisting.ts, chosen by plan.ts), rendered
 * by renderPlan.ts and carried out by execute.ts. Also the refusals and small parts planners share.
 */
import { NodeView } from "./clusterState";
import { SlotRange } from "./slots";
import { PlanNode } from "./placement";

/** Refusals carry this type so callers (provider, CLI) can tell them from transient failures. */
export class FormationRefused extends Error {
    constructor(message: string) {
        super(message);
        this.name = "FormationRefused";
    }
}

/**
 * One action. Nodes are named by address. Steps of one phase run together (see execute.ts); a new
 * kind extends this union, and the compiler then asks renderPlan and execute.ts to handle it.
 */
export type Step =
    /** CONFIG SET cluster-node-timeout while a fresh cluster forms (not checked: a node left at its value only forms slower). */
    | { readonly kind: "lower-node-timeout"; readonly node: string; readonly ms: number }
    /** CONFIG SET cluster-node-timeout back to the configured value, then CONFIG GET to check it took. */
    | { readonly kind: "restore-node-timeout"; readonly node: string; readonly ms: number }
    | { readonly kind: "set-config-epoch"; readonly node: string; readonly epoch: number }
    | { readonly kind: "add-slots"; readonly node: string; readonly ranges: readonly SlotRange[] }
    /** `from` sends CLUSTER MEET to each of `to` (one batch). */
    | { readonly kind: "meet"; readonly from: string; readonly to: readonly string[] }
    /** CLUSTER REPLICATE as soon as the replica knows its master as a master; `previousMaster` when it moves from another one. */
    | {
          readonly kind: "replicate";
          readonly replica: string;
          readonly master: string;
          readonly masterId: string;
          readonly previousMaster?: string;
      }
    /** The replica meets its master, then replicates it (before the mesh, large clusters). */
    | { readonly kind: "pair"; readonly replica: string; readonly master: string; readonly masterId: string }
    | { readonly kind: "wait-known"; readonly nodes: readonly string[]; readonly ids: readonly string[] }
    /** Until every node reports cluster_state:ok (a node refuses MIGRATE's RESTORE before). */
    | { readonly kind: "wait-usable"; readonly nodes: readonly string[] }
    /** Slots with their keys from one master to another (over Kubernetes: redis-cli --cluster reshard, which picks the donor's lowest slots). */
    | {
          readonly kind: "move-slots";
          readonly from: string;
          readonly to: string;
          readonly fromId: string;
          readonly toId: string;
          readonly slots: readonly number[];
      }
    /** A move the donor had started (MIGRATING): its keys go where it was heading. */
    | {
          readonly kind: "finish-move";
          readonly slot: number;
          readonly from: string;
          readonly to: string;
          readonly fromId: string;
          readonly toId: string;
          /** The receiver neither imports nor owns the slot yet (the run stopped before its IMPORTING). */
          readonly openOnReceiver: boolean;
      }
    /** A move only the receiver knew of (IMPORTING): no key moved, so SETSLOT STABLE. */
    | { readonly kind: "cancel-move"; readonly slot: number; readonly node: string; readonly fromId: string }
    /**
     * A coordinated CLUSTER FAILOVER: once the replica's link is up and its offset has reached its master's
     * (a manual failover skips Redis's own data-age check, so this is checked first), the replica takes
     * over and its master becomes its replica. Writes pause only while the master hands over its last writes.
     */
    | {
          readonly kind: "handover";
          readonly replica: string;
          readonly master: string;
          readonly replicaId: string;
          readonly masterId: string;
      }
    /**
     * cluster-replica-no-failover: `allowed` false on a node about to be removed (it must never be promoted
     * meanwhile); true again on a node a drain had marked that stays after all (a scale-in undone).
     */
    | { readonly kind: "replica-failover"; readonly node: string; readonly allowed: boolean }
    /**
     * CLUSTER FORGET of nodes whose pods are gone, on one node. Every node's batch goes out at once: a
     * forgotten node is banned for 60 s only, and would come back through the gossip of any node that
     * still knows it; once all have forgotten it, none can tell the others about it again.
     */
    | { readonly kind: "forget"; readonly node: string; readonly departed: readonly { readonly id: string; readonly address: string }[] }
    /**
     * CLUSTER RESET (soft) on a node that leaves the cluster while its pod stays (a scale-in's new surge
     * pod, and the leaving replicas of it, which could not forget their own master): it forgets every
     * node, so it can no longer gossip the cluster back to itself or itself back to the cluster.
     */
    | { readonly kind: "reset"; readonly node: string };

export type StepKind = Step["kind"];

/** Steps that run together; the phases of a plan run one after another. */
export interface Phase {
    /** What the phase does: logged when it starts, and its line in the rendered plan. */
    readonly title: string;
    readonly steps: readonly Step[];
    /** Logged once the phase is done. */
    readonly done?: string;
}

export interface Plan {
    readonly kind: "create" | "resume" | "converge" | "close-open-slots" | "drain" | "release";
    /** One line: what this run does and why. */
    readonly summary: string;
    readonly phases: readonly Phase[];
    /** Steps run once the plan has been carried out and verified, or has failed: undo what holds only while forming. */
    readonly cleanup: readonly Step[];
    /** The cluster's nodes once done: the "formed" and "usable" checks run over them. */
    readonly members: readonly string[];
    /** FormResult.action of the run; none for close-open-slots, after which the run plans again. */
    readonly outcome?: "created" | "unchanged" | "completed" | "scaled-out" | "scaled-in" | "drained" | "released";
    /** Placement warnings of a planned layout; absent when they are read off the final shard map. */
    readonly placementWarnings?: readonly string[];
}

/** What is asked for, besides what the nodes report. */
export interface PlanRequest {
    readonly nodes: readonly PlanNode[];
    readonly masters: number;
    readonly replicasPerMaster: number;
    /** Above this many nodes a fresh formation takes its large-cluster steps (FORMATION_DEFAULTS.largeClusterNodes). */
    readonly largeClusterNodes: number;
    /** cluster-node-timeout of new masters while a fresh cluster forms (FORMATION_DEFAULTS.formationNodeTimeoutMs). */
    readonly formationNodeTimeoutMs: number;
}

/** `map`'s value for `key`; a key the planner was not told of is a bug in the caller, said plainly. */
export function lookup<K, V>(map: ReadonlyMap<K, V>, key: K, what: string): V {
    const value = map.get(key);
    if (value === undefined) throw new Error(`plan: no ${what} for ${String(key)}`);
    return value;
}

/**
 * A replica that owns no slots, outside the cluster: a pod a scale-in removed and a scale-out brings
 * back on its retained claim (the others forgot it). Its keys are a copy of its old master's, which the
 * full sync replaces when it replicates its new master; it may join as a replica, never as a master.
 */
export const isStaleReplica = (v: NodeView) => v.self.masterId !== undefined && v.self.slotCount === 0;

/** A node with keys that is not part of the cluster would lose them or shadow the cluster's. */
export function refuseData(views: readonly NodeView[]): void {
    const withKeys = views.find((v) => v.keys > 0);
    if (withKeys) {
        throw new FormationRefused(
            `node ${withKeys.address} holds ${withKeys.keys} keys but is not part of this cluster; refusing to add it (its data would be lost or shadowed). Nothing was changed.`,
        );
    }
}

/**
 * Members: nodes that own slots, and every settled peer they know. Outsiders know no node beyond
 * the given set (refuseForeign); those that know some are joining, e.g. MEETs of an interrupted run
 * still in handshake, and they simply join again.
 */
export function membership(views: readonly NodeView[]): { members: NodeView[]; outsiders: NodeView[] } {
    const ids = new Set<string>();
    for (const v of views.filter((x) => x.self.slotCount > 0)) {
        ids.add(v.self.id);
        for (const p of v.peers) if (!p.flags.includes("handshake")) ids.add(p.id);
    }
    return { members: views.filter((v) => ids.has(v.self.id)), outsiders: views.filter((v) => !ids.has(v.self.id)) };
}

/**
 * The cluster-node-timeout the nodes are configured with, read off the nodes a formation never lowers:
 * the value shared by every node not at the formation value, or undefined when none is left or they
 * disagree (then each node's own value stands).
 */
export function configuredNodeTimeout(views: readonly Pick<NodeView, "nodeTimeoutMs">[], formationMs: number): number | undefined {
    const others = new Set(views.map((v) => v.nodeTimeoutMs).filter((ms) => ms !== formationMs));
    return others.size === 1 ? [...others][0] : undefined;
}

/** Restores for nodes a run that was killed while forming left at the formation value. */
export function planLeftoverRestores(views: readonly NodeView[], formationMs: number, except: ReadonlySet<string> = new Set()): Step[] {
    const configured = configuredNodeTimeout(views, formationMs);
    if (configured === undefined) return [];
    return views
        .filter((v) => v.nodeTimeoutMs === formationMs && !except.has(v.address))
        .map((v) => ({ kind: "restore-node-timeout", node: v.address, ms: configured }));
}

export function waitKnown(nodes: readonly string[], ids: readonly string[]): Phase {
    return {
        title: `waiting until all ${nodes.length} nodes know each other`,
        steps: [{ kind: "wait-known", nodes, ids }],
        done: `all ${nodes.length} nodes know each other`,
    };
}

/**
 * Every node tells every other its slots and role now, instead of at its next random ping (up to a
 * second away, per peer): a MEET to a known node is processed as a regular message from a known
 * sender, which carries its slots and role; the extra handshake is dropped at once.
 */
export function announce(nodes: readonly string[]): Phase {
    return {
        title: `announcing slots and roles: ${nodes.length * (nodes.length - 1)} handshakes`,
        steps: nodes.map((from) => ({ kind: "meet", from, to: nodes.filter((to) => to !== from) })),
    };
}
