/**
 * The formation engine: forms, verifies or scales out the Redis Cluster over a set of nodes,
 * idempotently, through a Transport. It only orchestrates:
 *
 *   inspect (observe.ts) -> check and plan (plan.ts, pure) -> log the plan (renderPlan.ts)
 *   -> act (execute.ts) -> verify: formed, then usable -> undo what held only while forming
 *
 * "Formed" = all 16384 slots covered, every node has the same view (nodes, roles, slots), and every
 * replica reports master_link_status:up (a master lost before its replica ever synced is never failed
 * over). "Usable" = every node reports cluster_state:ok, so clients stop getting CLUSTERDOWN; by
 * default the engine waits for both.
 */
import { SLOT_COUNT } from "../shape";
import { ShardInfo, placementWarnings, shardMap } from "./clusterState";
import { FORMATION_DEFAULTS } from "./defaults";
import { ActContext, runPhases, runSteps } from "./execute";
import { inspect, readClusterStates, readSurge, waitUntilFormed, waitUntilUsable } from "./observe";
import { PlanNode, validateShape, zonesVary } from "./placement";
import { Plan, PlanRequest, planRun } from "./plan";
import { renderPlan } from "./renderPlan";
import { Surge, surgeFree } from "./surge";
import { NodeTarget, Transport } from "./transport";

export { FormationRefused } from "./steps";
export type { ShardInfo, ShardMember } from "./clusterState";

/** A node to form: where Redis announces it, how the transport reaches it, where it runs. */
export interface FormNode extends PlanNode, NodeTarget {}

export interface FormOptions {
    readonly nodes: readonly FormNode[];
    /**
     * The surge pod (shape.ts surgeOrdinal), never among `nodes`: a node a stopping pod recruits and
     * that leaves by itself, so the run neither forgets nor counts it, and refuses while it serves slots.
     */
    readonly surge?: NodeTarget;
    readonly masters: number;
    readonly replicasPerMaster: number;
    readonly transport: Transport;
    /** Progress lines, the plan among them. */
    readonly log?: (line: string) => void;
    /** Upper bound of every single wait (default FORMATION_DEFAULTS.stepTimeoutMs). */
    readonly timeoutMs?: number;
    /** Polling interval of waits (default FORMATION_DEFAULTS.pollMs, growing with the node count; use ~500 ms over Kubernetes exec). */
    readonly pollMs?: number;
    /** Slot batches moved in parallel while rebalancing (default FORMATION_DEFAULTS.migrationConcurrency). */
    readonly migrationConcurrency?: number;
    /** After "formed", also wait until usable: cluster_state:ok on every node (default true). */
    readonly waitForClusterOk?: boolean;
    /** Above this many nodes a fresh formation takes its large-cluster steps (default FORMATION_DEFAULTS.largeClusterNodes). */
    readonly largeClusterNodes?: number;
    /** A long wait logs what it waits for at least this often (default FORMATION_DEFAULTS.progressEveryMs). */
    readonly progressEveryMs?: number;
}

export interface FormResult {
    /** What this run did. */
    readonly action: NonNullable<Plan["outcome"]>;
    readonly shards: readonly ShardInfo[];
    readonly placementOk: boolean;
    readonly placementWarnings: readonly string[];
    /** "ok" when every node reported cluster_state:ok, else the first other state seen. */
    readonly clusterState: string;
    /** host:port of every node in the cluster, masters first. */
    readonly seeds: readonly string[];
}

/** Forms (or verifies, or scales out) the cluster over `o.nodes`. See the module comment. */
export async function form(o: FormOptions): Promise<FormResult> {
    validateShape(o.nodes.length, o.masters, o.replicasPerMaster);
    const ctx = actContext(o);
    const request = planRequest(o);
    for (let round = 1; ; round++) {
        ctx.log(`inspecting ${o.nodes.length} nodes`);
        const surge = o.surge && (await readSurge(o.transport, o.surge));
        const plan = planRun(surgeFree(await inspect(o.transport, o.nodes), surge), request);
        for (const line of renderPlan(plan).split("\n")) ctx.log(line);
        if (plan.outcome) return carryOut(o, ctx, plan, surge);
        // Moves left open by an interrupted run are closed first, then the cluster is looked at afresh.
        if (round > FORMATION_DEFAULTS.openSlotRounds) {
            throw new Error(
                `slot moves were still open after ${round - 1} rounds of closing them; something else is moving slots. Nothing more was changed.`,
            );
        }
        await runPhases(ctx, plan.phases);
    }
}

/** What the planners are asked, from the run's options. */
export function planRequest(o: FormOptions): PlanRequest {
    return {
        nodes: o.nodes,
        masters: o.masters,
        replicasPerMaster: o.replicasPerMaster,
        largeClusterNodes: o.largeClusterNodes ?? FORMATION_DEFAULTS.largeClusterNodes,
        formationNodeTimeoutMs: FORMATION_DEFAULTS.formationNodeTimeoutMs,
    };
}

/** How a run acts: its transport, log, waits and limits (members are set once a plan names them). */
export function actContext(o: FormOptions): ActContext {
    const byAddress = new Map(o.nodes.map((n) => [n.address, n]));
    const log = o.log ?? (() => undefined);
    return {
        transport: o.transport,
        log,
        nodeOf: (address) => {
            const node = byAddress.get(address);
            if (!node) throw new Error(`nodes: ${address} is not among the nodes given`);
            return node;
        },
        wait: {
            timeoutMs: o.timeoutMs ?? FORMATION_DEFAULTS.stepTimeoutMs,
            // Every poll asks every node for CLUSTER NODES; on big clusters that load slows the very
            // gossip being waited for, so the interval grows with the node count.
            pollMs: Math.max(o.pollMs ?? FORMATION_DEFAULTS.pollMs, FORMATION_DEFAULTS.pollMsPerNode * o.nodes.length),
            // Every wait says what it still waits for at least every progressEveryMs.
            progress: log,
            progressEveryMs: o.progressEveryMs,
        },
        pairingPollMs: o.pollMs ?? FORMATION_DEFAULTS.pairingPollMs,
        migrationConcurrency: o.migrationConcurrency ?? FORMATION_DEFAULTS.migrationConcurrency,
        members: [],
    };
}

/** Acts, verifies, then runs the plan's cleanup, which also runs (and is reported) when acting or verifying failed. */
async function carryOut(o: FormOptions, base: ActContext, plan: Plan, surge: Surge | undefined): Promise<FormResult> {
    const ctx = { ...base, members: plan.members.map(base.nodeOf), surge };
    let result: FormResult;
    try {
        await runPhases(ctx, plan.phases);
        result = await verify(o, ctx, plan);
    } catch (failure) {
        try {
            await runSteps(ctx, plan.cleanup);
        } catch (cleanup) {
            throw new Error(
                `${(failure as Error).message}; undoing the formation-time settings after that also failed: ${(cleanup as Error).message}`,
                {
                    cause: cleanup,
                },
            );
        }
        throw failure;
    }
    if (plan.cleanup.length) ctx.log(`restoring what held only while forming (${plan.cleanup.length} steps)`);
    await runSteps(ctx, plan.cleanup);
    return result;
}

/** Waits until formed (and usable, by default) and reads the final shard map. */
async function verify(o: FormOptions, ctx: ActContext, plan: Plan): Promise<FormResult> {
    const observed = { nodes: ctx.members, transport: o.transport, surge: ctx.surge, ...ctx.wait };
    const snapshot = await waitUntilFormed(observed);
    const placeOf = new Map(o.nodes.map((n) => [n.address, n]));
    const shards = shardMap(snapshot, (a) => placeOf.get(a));
    const replicas = shards.reduce((k, s) => k + s.replicas.length, 0);
    ctx.log(`formed: ${shards.length} masters, ${replicas} replicas, all ${SLOT_COUNT} slots covered, all replica links up`);
    let clusterState = "ok";
    if (o.waitForClusterOk ?? true) {
        await waitUntilUsable(observed);
        ctx.log(`usable: cluster_state:ok on all ${ctx.members.length} nodes`);
    } else {
        clusterState = (await readClusterStates(o.transport, ctx.members)).map(([, st]) => st).find((st) => st !== "ok") ?? "ok";
    }
    const warnings = plan.placementWarnings ?? placementWarnings(shards, zonesVary(o.nodes));
    if (!plan.placementWarnings) for (const w of warnings) ctx.log(`placement warning: ${w}`);
    return {
        action: plan.outcome!,
        shards,
        placementOk: warnings.length === 0,
        placementWarnings: warnings,
        clusterState,
        seeds: shards.flatMap((s) => [s.master.address, ...s.replicas.map((r) => r.address)]),
    };
}
