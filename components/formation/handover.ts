/**
 * A handover: a replica takes over its master's slots with a coordinated CLUSTER FAILOVER. A manual
 * failover skips Redis's own check of the replica's data age, so the replica's link and offset are
 * checked first; the coordinated failover then pauses the master's clients until the replica has its
 * last writes, and only then promotes it. What to hand over is decided by the planners.
 */
import { parseClusterNodes, selfEntry, syncPending, infoNumber } from "./clusterState";
import * as cmd from "./commands";
import { FORMATION_DEFAULTS } from "./defaults";
import { MoveContext } from "./migrate";
import { Step } from "./steps";
import { waitFor } from "./wait";

type Handover = Extract<Step, { kind: "handover" }>;

/**
 * Waits until the replica is in sync (and its master sees it as its replica: a master ignores a manual
 * failover request from a node it does not know as its own), fails over, and waits until both nodes say
 * their roles are swapped. Redis abandons a manual failover after 5 s (CLUSTER_MF_TIMEOUT), so one that
 * has not happened by then is requested again.
 */
export async function handOver(ctx: MoveContext, s: Handover): Promise<void> {
    const replica = ctx.nodeOf(s.replica);
    const master = ctx.nodeOf(s.master);
    ctx.log(`handing ${s.master}'s slots over to its replica ${s.replica}`);
    await waitFor(
        `${s.replica} to be in sync with its master ${s.master}`,
        async () => {
            const masterView = parseClusterNodes(await cmd.send(ctx.transport, master, cmd.clusterNodes()));
            if (masterView.find((e) => e.id === s.replicaId)?.masterId !== s.masterId)
                return `${s.master} does not see ${s.replica} as its replica yet`;
            const masterOffset = infoNumber(await cmd.send(ctx.transport, master, cmd.infoReplication()), "master_repl_offset");
            if (masterOffset === undefined) return `${s.master} reports no master_repl_offset`;
            return syncPending(s.replica, await cmd.send(ctx.transport, replica, cmd.infoReplication()), masterOffset);
        },
        ctx.wait,
    );
    let requested = 0;
    await waitFor(
        `${s.replica} to take over from ${s.master}`,
        async () => {
            const mine = selfEntry(parseClusterNodes(await cmd.send(ctx.transport, replica, cmd.clusterNodes())), s.replica);
            if (mine.masterId === undefined && mine.slotCount > 0) {
                const old = selfEntry(parseClusterNodes(await cmd.send(ctx.transport, master, cmd.clusterNodes())), s.master);
                return old.masterId === s.replicaId ? undefined : `${s.master} does not follow ${s.replica} yet`;
            }
            if (Date.now() - requested > FORMATION_DEFAULTS.manualFailoverRetryMs) {
                requested = Date.now();
                await cmd.send(ctx.transport, replica, cmd.failover());
            }
            return `${s.replica} is not yet a master with slots`;
        },
        ctx.wait,
    );
    ctx.log(`${s.replica} took over from ${s.master}, which now replicates it`);
}
