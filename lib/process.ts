/**
 * Processes the local tools start and stop: liveness, identity (a recorded pid may have been reused by
 * another program since), and signalling with escalation.
 */
import * as fs from "fs";
import { setTimeout as sleep } from "timers/promises";

/** Whether a process with this pid exists (signal 0 checks without signalling). */
export function isAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        // EPERM: it exists but belongs to someone else.
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
}

/**
 * The kernel's start time of `pid` (clock ticks since boot, /proc/<pid>/stat field 22), or undefined
 * when the process is gone or /proc is not available. With the pid it identifies one process for good.
 */
export function processStartTicks(pid: number): number | undefined {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        // Field 2 (comm) is in parentheses and may hold spaces: count fields after its closing one.
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return Number(fields[19]);
    } catch {
        return undefined;
    }
}

/** A process as recorded: pid plus start time, so a later run never signals a stranger that reused the pid. */
export interface ProcessRecord {
    readonly pid: number;
    readonly startTicks?: number;
}

export function recordProcess(pid: number): ProcessRecord {
    return { pid, startTicks: processStartTicks(pid) };
}

/** Whether the recorded process still runs (the same one, not a later process with its pid). */
export function isSameProcessAlive(r: ProcessRecord): boolean {
    if (!isAlive(r.pid)) return false;
    if (r.startTicks === undefined) return true;
    const now = processStartTicks(r.pid);
    return now === undefined || now === r.startTicks;
}

/** Sends `signal` to a process group (negative pid); false when the group is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
    try {
        process.kill(-pgid, signal);
        return true;
    } catch {
        return false;
    }
}

/**
 * Sends `signal` to `pid` and waits for it to exit, escalating to SIGKILL after `timeoutMs`.
 * Resolves true once the process is gone (false: it survived even SIGKILL).
 */
export async function terminate(pid: number, signal: NodeJS.Signals, timeoutMs: number, pollMs = 25): Promise<boolean> {
    if (!isAlive(pid)) return true;
    process.kill(pid, signal);
    const deadline = Date.now() + timeoutMs;
    while (isAlive(pid)) {
        if (Date.now() > deadline) {
            process.kill(pid, "SIGKILL");
            await sleep(100);
            return !isAlive(pid);
        }
        await sleep(pollMs);
    }
    return true;
}
