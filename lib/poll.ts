/**
 * Waiting for a condition with a deadline: the one polling loop of the local tools, benchmarks and tests.
 */
import { setTimeout as sleep } from "timers/promises";

export interface PollOptions {
    /** Give up after this long (ms). */
    readonly timeoutMs: number;
    /** Pause between two checks (ms, default 100). */
    readonly intervalMs?: number;
}

/**
 * Calls `check` until it returns a value other than undefined and resolves with it; resolves
 * undefined once `timeoutMs` has passed. A check that throws fails the poll at once.
 */
export async function poll<T>(check: () => T | undefined | Promise<T | undefined>, o: PollOptions): Promise<T | undefined> {
    const deadline = Date.now() + o.timeoutMs;
    for (;;) {
        const value = await check();
        if (value !== undefined) return value;
        if (Date.now() >= deadline) return undefined;
        await sleep(o.intervalMs ?? 100);
    }
}

/** Whether `check` became true within `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, o: PollOptions): Promise<boolean> {
    return (await poll(async () => ((await check()) ? true : undefined), o)) === true;
}

/**
 * Like poll, but a timeout is an error that says what was awaited and why it was not reached yet:
 * `why` returns undefined once the condition holds, else the reason it does not.
 */
export async function waitUntil(what: string, why: () => string | undefined | Promise<string | undefined>, o: PollOptions): Promise<void> {
    let last: string | undefined = "not checked yet";
    const done = await poll(async () => {
        last = await why();
        return last === undefined ? true : undefined;
    }, o);
    if (!done) throw new Error(`${what}: not reached within ${o.timeoutMs} ms (${last})`);
}
