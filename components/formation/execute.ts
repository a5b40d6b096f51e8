/**
 * Carries out a plan's phases, one after another. Within a phase everything runs at once: the plain
 * commands of each node go out as one batch (one exec over Kubernetes), in plan order; replicas wait
 * for their masters concurrently; slot moves share one pool; interrupted moves are closed, and shards
 * handed over, one by one.
 * A phase that fails returns only once every operation it started has ended.
 */
import { configNumberOf } from "./clusterState";
import * as cmd from "./commands";
import { handOver } from "./handover";
import { MoveContext, cancelMove, finishMove, moveSlots } from "./migrate";
import { waitAllKnown, waitKnowsMaster, waitUntilUsable } from "./observe";
import { Phase, Step, StepKind } from "./steps";
import { settleAll } from "./wait";

/** What carrying out a plan needs from the run. */
export interface ActContext extends MoveContext {
    /** Poll interval while a replica waits to know its master before the mesh (its view is one node). */
    readonly pairingPollMs: number;
}

type StepOf<K extends StepKind> = Extract<Step, { kind: K }>;

/**
 * How each kind of step runs within its phase; `satisfies` makes a new step kind a compile error here
 * until it says how it runs:
 *  - batch: plain commands, sent per node in one batch;
 *  - each: an operation of its own, concurrent with the others;
 *  - pool: slot moves, all of the phase's together (a worker pool, or one reshard after another);
 *  - in-order: one after another.
 */
const RUNS_AS = {
    "lower-node-timeout": "batch",
    "set-config-epoch": "batch",
    "add-slots": "batch",
    meet: "batch",
    forget: "batch",
    "replica-failover": "batch",
    reset: "batch",
    "restore-node-timeout": "each",
    replicate: "each",
    pair: "each",
    "wait-known": "each",
    "wait-usable": "each",
    "move-slots": "pool",
    "finish-move": "in-order",
    "cancel-move": "in-order",
    // One failover at a time: each takes a new config epoch, and concurrent ones would collide.
    handover: "in-order",
} as const satisfies Record<StepKind, "batch" | "each" | "pool" | "in-order">;

type RunsAs<M extends string> = { [K in StepKind]: (typeof RUNS_AS)[K] extends M ? K : never }[StepKind];
const runsAs =
    <M extends (typeof RUNS_AS)[StepKind]>(mode: M) =>
    (s: Step): s is StepOf<RunsAs<M>> =>
        RUNS_AS[s.kind] === mode;

/** Runs the phases in order, logging each title before and its `done` line after. */
export async function runPhases(ctx: ActContext, phases: readonly Phase[]): Promise<void> {
    for (const phase of phases) {
        ctx.log(phase.title);
        await runSteps(ctx, phase.steps);
        if (phase.done) ctx.log(phase.done);
    }
}

/** Runs one phase's steps together (see the module comment). */
export async function runSteps(ctx: ActContext, steps: readonly Step[]): Promise<void> {
    const moves = steps.filter(runsAs("pool"));
    const inOrder = steps.filter(runsAs("in-order"));
    await settleAll<void>([
        ...perNodeBatches(ctx, steps.filter(runsAs("batch"))),
        ...steps.filter(runsAs("each")).map((s) => runOne(ctx, s)),
        ...(moves.length ? [moveSlots(ctx, moves)] : []),
        ...(inOrder.length ? [runInOrder(ctx, inOrder)] : []),
    ]);
}

/** The commands of plain steps, one batch per node in plan order, all nodes at once. */
function perNodeBatches(ctx: ActContext, steps: readonly StepOf<RunsAs<"batch">>[]): Promise<void>[] {
    const byNode = new Map<string, cmd.Command[]>();
    for (const s of steps) {
        const node = s.kind === "meet" ? s.from : s.node;
        byNode.set(node, [...(byNode.get(node) ?? []), ...commandsOf(s)]);
    }
    return [...byNode].map(([node, commands]) => cmd.sendEach(ctx.transport, ctx.nodeOf(node), commands));
}

function commandsOf(s: StepOf<RunsAs<"batch">>): cmd.Command[] {
    switch (s.kind) {
        case "lower-node-timeout":
            return [cmd.setNodeTimeout(s.ms)];
        case "set-config-epoch":
            return [cmd.setConfigEpoch(s.epoch)];
        case "add-slots":
            return [cmd.addSlotsRange(s.ranges)];
        case "meet":
            return s.to.map(cmd.meet);
        case "forget":
            return s.departed.map((d) => cmd.forget(d.id));
        case "replica-failover":
            return [cmd.setReplicaFailover(s.allowed)];
        case "reset":
            return [cmd.clusterReset()];
    }
}

/** A step that runs as an operation of its own. */
function runOne(ctx: ActContext, s: StepOf<RunsAs<"each">>): Promise<void> {
    switch (s.kind) {
        case "restore-node-timeout":
            return restoreNodeTimeout(ctx, s);
        case "replicate":
        case "pair":
            return replicate(ctx, s);
        case "wait-known":
        case "wait-usable":
            return waitStep(ctx, s);
    }
}

/** CONFIG SET, then CONFIG GET: a restore that did not take is an error, not a silent difference. */
async function restoreNodeTimeout(ctx: ActContext, s: StepOf<"restore-node-timeout">): Promise<void> {
    const node = ctx.nodeOf(s.node);
    await cmd.send(ctx.transport, node, cmd.setNodeTimeout(s.ms));
    const now = configNumberOf(await cmd.send(ctx.transport, node, cmd.getNodeTimeout()), "cluster-node-timeout");
    if (now !== s.ms) throw new Error(`${s.node}: cluster-node-timeout is ${now} ms after restoring it to ${s.ms} ms`);
}

/** REPLICATE as soon as the replica knows its master as a master; a pair first meets it. */
async function replicate(ctx: ActContext, s: StepOf<"replicate" | "pair">): Promise<void> {
    const replica = ctx.nodeOf(s.replica);
    if (s.kind === "pair") await cmd.sendEach(ctx.transport, replica, [cmd.meet(s.master)]);
    const pollMs = s.kind === "pair" ? ctx.pairingPollMs : ctx.wait.pollMs;
    await waitKnowsMaster({
        nodes: [replica],
        transport: ctx.transport,
        ...ctx.wait,
        pollMs,
        replica,
        masterId: s.masterId,
        master: s.master,
    });
    await cmd.send(ctx.transport, replica, cmd.replicate(s.masterId));
}

function waitStep(ctx: ActContext, s: StepOf<"wait-known" | "wait-usable">): Promise<void> {
    const observed = { nodes: s.nodes.map(ctx.nodeOf), transport: ctx.transport, ...ctx.wait };
    return s.kind === "wait-known" ? waitAllKnown(observed, s.ids) : waitUntilUsable(observed);
}

/** Steps that run one after another, in plan order: closing interrupted moves, handovers. */
async function runInOrder(ctx: ActContext, steps: readonly StepOf<RunsAs<"in-order">>[]): Promise<void> {
    for (const s of steps) {
        switch (s.kind) {
            case "finish-move":
                await finishMove(ctx, s);
                break;
            case "cancel-move":
                await cancelMove(ctx, s);
                break;
            case "handover":
                await handOver(ctx, s);
                break;
        }
    }
}
