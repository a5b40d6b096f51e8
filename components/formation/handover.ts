/**
 * A handover: a replica takes over its master's slots with a coordinated CLUSTER FAILOVER. A manual
 * failover skips Redis's own check of the replica's data age, so the replica's link and offset are
 * checked first; the coordinated failover then pauses the master's clients until the replica has its
 * last writes, and only then promotes it. What to hand over is decided by the planners.
 */
import { parseClusterNodes, selfEntry, syncPending, infoNumber } from "./clusterState";
import * as cmd from "./commands";
import { MoveContext } from "./migrate";
import { Step } from "./steps";
import { waitFor } from "./wait";

type Handover = Extract<Step, { kind: "handover" }>;

/** Waits until the replica is in sync, fails over, and waits until both nodes say their roles are swapped. */
export async function handOver(ctx: MoveContext, s: Handover): Promise<void> {
    const replica = ctx.nodeOf(s.replica);
    const master = ctx.nodeOf(s.master);
    ctx.log(`handing ${s.master}'s slots over to its replica ${s.replica}`);
    await waitFor(
        `${s.replica} to be in sync with its master ${s.master}`,
        async () => {
            const masterOffset = infoNumber(await cmd.send(ctx.transport, master, cmd.infoReplication()), "master_repl_offset");
            if (masterOffset === undefined) return `${s.master} reports no master_repl_offset`;
            return syncPending(s.replica, await cmd.send(ctx.transport, replica, cmd.infoReplication()), masterOffset);
        },
        ctx.wait,
    );
    await cmd.send(ctx.transport, replica, cmd.failover());
    await waitFor(
        `${s.replica} to take over from ${s.master}`,
        async () => {
            const mine = selfEntry(parseClusterNodes(await cmd.send(ctx.transport, replica, cmd.clusterNodes())), s.replica);
            if (mine.masterId !== undefined || mine.slotCount === 0) return `${s.replica} is not yet a master with slots`;
            const old = selfEntry(parseClusterNodes(await cmd.send(ctx.transport, master, cmd.clusterNodes())), s.master);
            return old.masterId === s.replicaId ? undefined : `${s.master} does not follow ${s.replica} yet`;
        },
        ctx.wait,
    );
    ctx.log(`${s.replica} took over from ${s.master}, which now replicates it`);
}
