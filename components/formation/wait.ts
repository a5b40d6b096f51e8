/**
 * Waiting, in one place: every wait of the formation engine and its providers polls through
 * `waitFor`, which has a deadline, says what it was still waiting for when it passes, and reports
 * what it waits for (and for how long) at least every `progressEveryMs` while it lasts, so a long
 * `pulumi up` never looks hung. A single long operation (a reshard exec) reports through
 * `reportWhileRunning` the same way.
 */
import { setTimeout as sleep } from "timers/promises";
import { FORMATION_DEFAULTS } from "./defaults";

/** Time as the waits see it; tests pass a fake one. */
export interface Clock {
    now(): number;
    sleep(ms: number): Promise<void>;
}

export const SYSTEM_CLOCK: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

/** How long a wait may take, how often it asks, and where it reports while it lasts. */
export interface WaitOptions {
    readonly timeoutMs: number;
    readonly pollMs: number;
    /** Receives "still waiting" lines; without it a wait is silent. */
    readonly progress?: (line: string) => void;
    /** A progress line at least this often (default FORMATION_DEFAULTS.progressEveryMs). */
    readonly progressEveryMs?: number;
    /** Default SYSTEM_CLOCK. */
    readonly clock?: Clock;
}

/** `12 s`, `2 min 5 s`: how long something has been going on, as a log line says it. */
export function formatElapsed(ms: number): string {
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s} s`;
    return s % 60 === 0 ? `${s / 60} min` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/**
 * Polls `probe` until it returns undefined (done) or the deadline passes. The probe returns what it
 * still waits for; a probe that throws counts as "not yet" with the error as the reason, so a node
 * restarting mid-wait does not end the wait, but a timeout names the last error. Every
 * `progressEveryMs` the wait reports what it waits for, how long it has waited and what is pending.
 */
export async function waitFor(what: string, probe: () => Promise<string | undefined>, o: WaitOptions): Promise<void> {
    const clock = o.clock ?? SYSTEM_CLOCK;
    const every = o.progressEveryMs ?? FORMATION_DEFAULTS.progressEveryMs;
    const started = clock.now();
    const deadline = started + o.timeoutMs;
    let lastReport = started;
    for (;;) {
        let pending: string | undefined;
        try {
            pending = await probe();
        } catch (e) {
            pending = `error: ${(e as Error).message}`;
        }
        if (pending === undefined) return;
        const now = clock.now();
        if (now >= deadline) throw new Error(`timed out after ${o.timeoutMs} ms waiting for ${what}; still waiting for: ${pending}`);
        if (o.progress && now - lastReport >= every) {
            o.progress(`still waiting for ${what} (${formatElapsed(now - started)} of at most ${formatElapsed(o.timeoutMs)}): ${pending}`);
            lastReport = now;
        }
        await clock.sleep(o.pollMs);
    }
}

/**
 * Runs one long operation (a reshard exec, a pool of slot moves) and, while it runs, reports every
 * `everyMs` what it is and how long it has run; `status` may add how far it got.
 */
export async function reportWhileRunning<T>(
    what: string,
    operation: Promise<T>,
    o: { readonly progress?: (line: string) => void; readonly everyMs?: number; readonly status?: () => string },
): Promise<T> {
    const progress = o.progress;
    if (!progress) return operation;
    const started = Date.now();
    const timer = setInterval(
        () => progress(`still running ${what} (${formatElapsed(Date.now() - started)})${o.status ? `: ${o.status()}` : ""}`),
        o.everyMs ?? FORMATION_DEFAULTS.progressEveryMs,
    );
    try {
        return await operation;
    } finally {
        clearInterval(timer);
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
