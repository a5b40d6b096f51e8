/**
 * Waiting, in one place: every wait of the formation engine and its provider polls through
 * `waitFor`, which has a deadline and says what it was still waiting for when it passes.
 */
import { setTimeout as sleep } from "timers/promises";

/** How long a wait may take and how often it asks. */
export interface WaitOptions {
    readonly timeoutMs: number;
    readonly pollMs: number;
}

/**
 * Polls `probe` until it returns undefined (done) or the deadline passes. The probe returns what it
 * still waits for; a probe that throws counts as "not yet" with the error as the reason, so a node
 * restarting mid-wait does not end the wait, but a timeout names the last error.
 */
export async function waitFor(what: string, probe: () => Promise<string | undefined>, o: WaitOptions): Promise<void> {
    const deadline = Date.now() + o.timeoutMs;
    for (;;) {
        let pending: string | undefined;
        try {
            pending = await probe();
        } catch (e) {
            pending = `error: ${(e as Error).message}`;
        }
        if (pending === undefined) return;
        if (Date.now() >= deadline) throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${what}; still waiting for: ${pending}`);
        await sleep(o.pollMs);
    }
}

/**
 * Like Promise.all, but the first error surfaces only once every operation has ended: a run that
 * fails leaves nothing still sending commands behind the caller's back.
 */
export async function settleAll<T>(operations: readonly (T | Promise<T>)[]): Promise<T[]> {
    const results = await Promise.allSettled(operations);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
