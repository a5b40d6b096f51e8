/**
 * `down`: the supervisor stops every pod gracefully and exits. When it cannot (it was killed, or
 * hangs), the processes recorded in DIR/pods.json are stopped directly, each process group with
 * SIGTERM and, after the grace period, SIGKILL. The data stays in DIR.
 */
import * as fs from "fs";
import { setTimeout as sleep } from "timers/promises";
import { eventually } from "../lib/poll";
import { ProcessRecord, isSameProcessAlive, signalGroup } from "../lib/process";
import { Layout, readJson } from "./layout";
import { ContainerProcess } from "./pod";
import { call } from "./protocol";
import { readPods, runningProcesses } from "./state";

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
    // The lock names the supervisor; pods.json does too, should the lock be gone.
    const supervisor = readJson<ProcessRecord>(layout.lock) ?? readPods(layout).supervisor;
    try {
        await call(layout, { verb: "stop" }, 10_000);
        bySupervisor = true;
    } catch {
        if (supervisor && isSameProcessAlive(supervisor)) {
            // Alive but not answering (or its socket is gone): asked to stop by signal, then killed.
            hungSupervisor = supervisor.pid;
            process.kill(supervisor.pid, "SIGTERM");
            if (!(await eventually(() => !isSameProcessAlive(supervisor), { timeoutMs: GRACE_MS, intervalMs: 50 }))) {
                process.kill(supervisor.pid, "SIGKILL");
            }
        }
    }
    if (supervisor) await eventually(() => !isSameProcessAlive(supervisor), { timeoutMs: GRACE_MS + 15_000, intervalMs: 50 });
    const orphans = runningProcesses(layout);
    for (const p of orphans) signalGroup(p.pid, "SIGTERM");
    if (!(await eventually(() => orphans.every((p) => !isSameProcessAlive(p)), { timeoutMs: GRACE_MS, intervalMs: 50 }))) {
        for (const p of orphans) if (isSameProcessAlive(p)) signalGroup(p.pid, "SIGKILL");
        await sleep(100);
    }
    // What a dead supervisor left: its lock and socket.
    if (!supervisor || !isSameProcessAlive(supervisor)) {
        fs.rmSync(layout.lock, { force: true });
        fs.rmSync(layout.socket, { force: true });
    }
    return { bySupervisor, orphans, hungSupervisor };
}
