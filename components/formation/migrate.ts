/**
 * Slot moves with their keys: IMPORTING on the receiver, MIGRATING on the donor, the keys slot by slot
 * (MIGRATE), then SETSLOT NODE on the receiver and then on the donor (Redis's documented order). Over
 * Kubernetes a whole move is one `redis-cli --cluster reshard` in the donor's pod instead. Also the
 * finishing and cancelling of moves an interrupted run left open. What to move is decided by the
 * planners; this only carries it out.
 */
import { parseClusterNodes, selfEntry } from "./clusterState";
import * as cmd from "./commands";
import { FORMATION_DEFAULTS } from "./defaults";
import { waitUntilFormed } from "./observe";
import { Step } from "./steps";
import type { Surge } from "./surge";
import { NodeTarget, Transport } from "./transport";
import { WaitOptions, reportWhileRunning } from "./wait";

/** What slot moves need from the run. */
export interface MoveContext {
    readonly transport: Transport;
    readonly nodeOf: (address: string) => NodeTarget;
    readonly log: (line: string) => void;
    readonly wait: WaitOptions;
    /** Batches moved at once by the direct transport. */
    readonly migrationConcurrency: number;
    /** The cluster's nodes: redis-cli's reshard starts only once they all agree on the slots. */
    readonly members: readonly NodeTarget[];
    /** The surge pod's node, whose line the "formed" check before each reshard ignores (surge.ts). */
    readonly surge?: Surge;
}

type MoveSlots = Extract<Step, { kind: "move-slots" }>;

/** Carries out planned moves: through the transport's own reshard where it has one, else batch by batch. */
export function moveSlots(ctx: MoveContext, moves: readonly MoveSlots[]): Promise<void> {
    return ctx.transport.reshard ? reshardMoves(ctx, moves) : migrateMoves(ctx, moves);
}

/** One donor, one receiver and at most FORMATION_DEFAULTS.slotsPerBatch slots. */
interface Batch {
    readonly move: MoveSlots;
    readonly slots: readonly number[];
}

/** Consecutive batches of each move, in plan order. Pure. */
export function batchesOf(moves: readonly MoveSlots[], size: number = FORMATION_DEFAULTS.slotsPerBatch): Batch[] {
    return moves.flatMap((move) =>
        Array.from({ length: Math.ceil(move.slots.length / size) }, (_, i) => ({
            move,
            slots: move.slots.slice(i * size, (i + 1) * size),
        })),
    );
}

/**
 * Moves batches through a pool of workers. The SETSLOTs of a batch go out as one callEach per side.
 * After a failure no new batch starts, and the error surfaces once the batches under way have ended:
 * nothing keeps moving slots behind the caller's back (the next run finishes what is open).
 */
async function migrateMoves(ctx: MoveContext, moves: readonly MoveSlots[]): Promise<void> {
    const batches = batchesOf(moves);
    const total = moves.reduce((k, m) => k + m.slots.length, 0);
    let next = 0;
    let moved = 0;
    let failure: { error: unknown } | undefined;
    const worker = async () => {
        while (!failure && next < batches.length) {
            const batch = batches[next++];
            try {
                await migrateBatch(ctx, batch);
            } catch (error) {
                failure ??= { error };
                return;
            }
            const before = moved;
            moved += batch.slots.length;
            const every = FORMATION_DEFAULTS.progressEverySlots;
            if (Math.floor(moved / every) > Math.floor(before / every)) ctx.log(`rebalancing: ${moved}/${total} slots moved`);
        }
    };
    await reportWhileRunning(
        `slot moves (${total} slots)`,
        Promise.all(Array.from({ length: Math.max(1, ctx.migrationConcurrency) }, worker)),
        { progress: ctx.wait.progress, everyMs: ctx.wait.progressEveryMs, status: () => `${moved}/${total} slots moved` },
    );
    if (failure) throw failure.error;
}

async function migrateBatch(ctx: MoveContext, { move, slots }: Batch): Promise<void> {
    const from = ctx.nodeOf(move.from);
    const to = ctx.nodeOf(move.to);
    await cmd.sendEach(
        ctx.transport,
        to,
        slots.map((slot) => cmd.setSlotImporting(slot, move.fromId)),
    );
    await cmd.sendEach(
        ctx.transport,
        from,
        slots.map((slot) => cmd.setSlotMigrating(slot, move.toId)),
    );
    for (const slot of slots) await moveKeys(ctx, from, to, slot);
    await assignSlots(ctx, to, from, slots, move.toId);
}

/**
 * Moves through the transport's own reshard (redis-cli next to the cluster), one move at a time:
 * redis-cli refuses to start while another move leaves slots open, or while nodes disagree on the
 * slots. It takes the donor's lowest slots rather than the planned ones; the counts, and so the even
 * shares, are the same.
 */
async function reshardMoves(ctx: MoveContext, moves: readonly MoveSlots[]): Promise<void> {
    for (const m of moves) {
        await waitUntilFormed({ nodes: ctx.members, transport: ctx.transport, surge: ctx.surge, ...ctx.wait });
        const from = ctx.nodeOf(m.from);
        const what = `redis-cli --cluster reshard in ${from.target}: ${m.slots.length} slots from ${m.from} to ${m.to}`;
        ctx.log(`rebalancing: ${what}`);
        await reportWhileRunning(
            what,
            ctx.transport.reshard!(from.target, { entry: from.address, fromId: m.fromId, toId: m.toId, slots: m.slots.length }),
            { progress: ctx.wait.progress, everyMs: ctx.wait.progressEveryMs },
        );
    }
}

/** Consecutive groups of keys whose names add up to at most `maxChars` (a longer key goes alone). Pure. */
export function keyGroups(keys: readonly string[], maxChars: number): string[][] {
    const groups: string[][] = [];
    let size = 0;
    for (const key of keys) {
        if (groups.length === 0 || size + key.length > maxChars) {
            groups.push([]);
            size = 0;
        }
        groups[groups.length - 1].push(key);
        size += key.length;
    }
    return groups;
}

/** Moves every key of an open slot from `from` to `to` (MIGRATE: keysPerMigrate keys, at most migrateKeyChars of names, at a time). */
async function moveKeys(ctx: MoveContext, from: NodeTarget, to: NodeTarget, slot: number): Promise<void> {
    let previous = "";
    for (;;) {
        const reply = await cmd.send(ctx.transport, from, cmd.getKeysInSlot(slot));
        const keys = reply.split("\n").filter((k) => k !== "");
        if (keys.length === 0) return;
        // The transports return replies as text, one array element a line: a key whose name holds a
        // newline comes back split, MIGRATE finds neither part, and the same reply would repeat forever.
        if (reply === previous) {
            throw new Error(
                `slot ${slot}: MIGRATE from ${from.address} to ${to.address} moved none of ${JSON.stringify(keys.slice(0, 5))}; ` +
                    `key names with line breaks cannot be moved by this engine. The slot stays open (MIGRATING/IMPORTING) with its ` +
                    `keys on ${from.address}; move them with MIGRATE by hand, then run the formation again.`,
            );
        }
        previous = reply;
        for (const group of keyGroups(keys, FORMATION_DEFAULTS.migrateKeyChars)) {
            await cmd.send(ctx.transport, from, cmd.migrateKeys(to.address, group)).catch((e: Error) => {
                throw new Error(
                    `slot ${slot}: MIGRATE of ${group.length} keys from ${from.address} to ${to.address} failed: ${e.message}. The slot stays open; the next run continues it.`,
                );
            });
        }
    }
}

/**
 * Ends moves of `slots` to `to`: SETSLOT NODE on the receiver first, then on the donor. A donor being
 * emptied may have heard of its last slot's new owner from the receiver before our SETSLOT reaches it:
 * Redis 7 then turns it into that owner's replica at once (cluster-allow-replica-migration), and a
 * replica refuses SETSLOT; having no slots left, it needs none.
 */
async function assignSlots(ctx: MoveContext, to: NodeTarget, from: NodeTarget, slots: readonly number[], toId: string): Promise<void> {
    const commands = slots.map((slot) => cmd.setSlotNode(slot, toId));
    await cmd.sendEach(ctx.transport, to, commands);
    try {
        await cmd.sendEach(ctx.transport, from, commands);
    } catch (e) {
        if (!/SETSLOT only with masters/.test((e as Error).message)) throw e;
        const self = selfEntry(parseClusterNodes(await cmd.send(ctx.transport, from, cmd.clusterNodes())), from.address);
        if (self.masterId === undefined || self.slotCount > 0) throw e;
    }
}

/** Finishes a move the donor had started: its keys go where it was heading. */
export async function finishMove(ctx: MoveContext, step: Extract<Step, { kind: "finish-move" }>): Promise<void> {
    const from = ctx.nodeOf(step.from);
    const to = ctx.nodeOf(step.to);
    ctx.log(`finishing interrupted move of slot ${step.slot} from ${step.from} to ${step.to}`);
    if (step.openOnReceiver) await cmd.send(ctx.transport, to, cmd.setSlotImporting(step.slot, step.fromId));
    await moveKeys(ctx, from, to, step.slot);
    await assignSlots(ctx, to, from, [step.slot], step.toId);
}

/** Cancels a move only the receiver knew of: no key moved. */
export async function cancelMove(ctx: MoveContext, step: Extract<Step, { kind: "cancel-move" }>): Promise<void> {
    ctx.log(`cancelling interrupted move of slot ${step.slot} to ${step.node}, which never started`);
    await cmd.send(ctx.transport, ctx.nodeOf(step.node), cmd.setSlotStable(step.slot));
}
