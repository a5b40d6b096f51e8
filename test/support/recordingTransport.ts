/**
 * A Transport that wraps a real one, counts round trips (what an exec costs over Kubernetes)
 * and can fail once at a chosen command, the way a run dies half-way: commands of a batch
 * before the failing one have been applied, the rest have not (as `set -e` in an exec).
 */
import { Transport } from "../../components/formation/transport";

export class RecordingTransport implements Transport {
    /** Round trips: one per call, one per callEach. */
    roundTrips = 0;
    private failed = false;

    constructor(
        private readonly inner: Transport,
        /** Fails (once) on the first command for which this returns true. */
        private readonly failAt?: (target: string, args: readonly string[]) => boolean,
    ) {}

    private check(target: string, args: readonly string[]): void {
        if (!this.failed && this.failAt?.(target, args)) {
            this.failed = true;
            throw new Error(`injected failure at: ${args.join(" ")}`);
        }
    }

    async call(target: string, args: readonly string[]): Promise<string> {
        this.roundTrips++;
        this.check(target, args);
        return this.inner.call(target, args);
    }

    async callEach(target: string, commands: readonly (readonly string[])[]): Promise<void> {
        this.roundTrips++;
        for (const args of commands) {
            this.check(target, args);
            await this.inner.call(target, args);
        }
    }

    close(): Promise<void> {
        return this.inner.close();
    }
}

/** A predicate that is true on the n-th command (1-based) for which `match` is true. */
export function nth(
    n: number,
    match: (target: string, args: readonly string[]) => boolean,
): (target: string, args: readonly string[]) => boolean {
    let seen = 0;
    return (target, args) => match(target, args) && ++seen === n;
}
