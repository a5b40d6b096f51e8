/**
 * `down`: the supervisor stops every pod gracefully and exits. When it cannot (it was killed, or
 * hangs), the processes recorded in DIR/pods.json are stopped directly, each process group with
 * SIGTERM and, after the grace period, SIGKILL. The data stays in DIR.
 */
import * as fs from "fs";
import { setTimeout as sleep } from "timers/promises";
import { eventually } from "../lib/poll";
import { isSameProcessAlive, signalGroup } from "../lib/process";
import { Layout, readJson } from "./layout";
import { ContainerProcess } from "./pod";
import { NoSupervisorError, call } from "./protocol";
import { runningProcesses } from "./state";

/** How long stopped processes get between SIGTERM and SIGKILL (the StatefulSet's grace period). */
const GRACE_MS = 30_000;

export interface StopReport {
    /** The supervisor stopped its pods itself. */
    readonly bySupervisor: boolean;
    /** Processes left by a supervisor that died, stopped here. */
    readonly orphans: readonly ContainerProcess[];
    /** The pid of a supervisor that did not answer and was signalled. */
    readonly hungSupervisor?: number;
}

export async function stopCluster(layout: Layout): Promise<StopReport> {
    let bySupervisor = false;
    let hungSupervisor: number | undefined;
    const lock = readJson<{ pid: number; startTicks?: number }>(layout.lock);
    try {
        await call(layout, { verb: "stop" }, 10_000);
        bySupervisor = true;
    } catch (e) {
        if (!(e instanceof NoSupervisorError) && lock && isSameProcessAlive(lock)) {
            hungSupervisor = lock.pid;
            process.kill(lock.pid, "SIGKILL");
        }
    }
    if (lock) await eventually(() => !isSameProcessAlive(lock), { timeoutMs: GRACE_MS + 15_000, intervalMs: 50 });
    const orphans = runningProcesses(layout);
    for (const p of orphans) signalGroup(p.pid, "SIGTERM");
    if (!(await eventually(() => orphans.every((p) => !isSameProcessAlive(p)), { timeoutMs: GRACE_MS, intervalMs: 50 }))) {
        for (const p of orphans) if (isSameProcessAlive(p)) signalGroup(p.pid, "SIGKILL");
        await sleep(100);
    }
    // What a dead supervisor left: its lock and socket.
    if (!lock || !isSameProcessAlive(lock)) {
        fs.rmSync(layout.lock, { force: true });
        fs.rmSync(layout.socket, { force: true });
    }
    return { bySupervisor, orphans, hungSupervisor };
}
