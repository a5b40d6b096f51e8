/**
 * Records hits durably with group commit: the hits that arrive while a Redis round
 * trip is in flight are sent together as one `INCRBY hits <n>` followed by
 * `WAIT <replicas> <timeout>` on the same connection (one cluster pipeline, routed by
 * the key's slot — WAIT has no key of its own). Each hit of the batch gets its own
 * number from the new value, so numbers stay unique and increasing; a batch is
 * acknowledged only once WAIT confirms the replicas, so a single master failure
 * cannot take back a number that was ever returned.
 *
 * Bounded: at most `maxPending` hits wait (queued or in flight); one more is refused at
 * once (`overloaded`) instead of holding its request in memory behind a stalled Redis.
 * And no hit waits longer than `timeoutMs` from its arrival, time spent queued behind
 * unanswered round trips included.
 */
import { Cluster } from "ioredis";

export const HITS_KEY = "hits";

/** Why a hit was not acknowledged; all are retryable (HTTP 503). */
export type HitFailureReason = "redis_unavailable" | "not_durable" | "timeout" | "overloaded";

export class HitNotRecordedError extends Error {
    constructor(
        readonly reason: HitFailureReason,
        message: string,
    ) {
        super(message);
        this.name = "HitNotRecordedError";
    }
}

export interface HitRecorderOptions {
    readonly key?: string;
    /** 0 disables WAIT (not durable against a master failure). */
    readonly waitReplicas: number;
    readonly waitTimeoutMs: number;
    /** A hit not acknowledged within this from its arrival is failed (its batch is abandoned). */
    readonly timeoutMs: number;
    /** Hits queued or in flight at most; one more is refused at once with `overloaded`. */
    readonly maxPending: number;
    /** Round trips in flight at once; more batches hide latency, fewer make bigger batches. */
    readonly maxInFlight?: number;
    /** Pause before re-sending a batch whose INCRBY was redirected (the slot map is refreshed meanwhile). */
    readonly retryDelayMs?: number;
    /** Called once per round trip (for the latency histogram). */
    readonly onRoundTrip?: (seconds: number, batchSize: number, ok: boolean) => void;
}

/** Replies that mean the command was not executed, so sending it again cannot double-count. */
const NOT_EXECUTED = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;
const MAX_REDIRECT_RETRIES = 3;

interface Waiter {
    resolve(count: number): void;
    reject(err: HitNotRecordedError): void;
    /** performance.now() past which the hit is failed. */
    readonly deadline: number;
}

export class HitRecorder {
    /**
     * Oldest first. A queued hit needs no timer of its own: every round trip out is failed at its
     * oldest hit's deadline, which is earlier than any queued hit's, so a slot frees in time and the
     * queued hit leaves in a batch whose timer is its own deadline.
     */
    private queue: Waiter[] = [];
    /** Round trips (batches) in flight, and the hits they carry. */
    private inFlight = 0;
    private inFlightHits = 0;
    private flushScheduled = false;
    private readonly key: string;
    private readonly maxInFlight: number;
    private readonly retryDelayMs: number;

    constructor(
        private readonly redis: Cluster,
        private readonly options: HitRecorderOptions,
    ) {
        this.key = options.key ?? HITS_KEY;
        this.maxInFlight = options.maxInFlight ?? 2;
        this.retryDelayMs = options.retryDelayMs ?? 100;
    }

    /** Resolves with this hit's number once it is durable; rejects with HitNotRecordedError. */
    record(): Promise<number> {
        if (this.pending >= this.options.maxPending) {
            const message = `${this.pending} hits already wait for Redis (at most ${this.options.maxPending})`;
            return Promise.reject(new HitNotRecordedError("overloaded", message));
        }
        return new Promise<number>((resolve, reject) => {
            this.queue.push({ resolve, reject, deadline: performance.now() + this.options.timeoutMs });
            if (!this.flushScheduled) {
                this.flushScheduled = true;
                // After the current I/O phase, so every request parsed in it joins the batch.
                setImmediate(() => {
                    this.flushScheduled = false;
                    this.flush();
                });
            }
        });
    }

    private flush(): void {
        while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
            const batch = this.queue;
            this.queue = [];
            this.inFlight++;
            this.inFlightHits += batch.length;
            this.send(batch);
        }
    }

    private send(batch: Waiter[]): void {
        const started = process.hrtime.bigint();
        let settled = false;
        const finish = (ok: boolean, settle: () => void) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            this.inFlight--;
            this.inFlightHits -= batch.length;
            this.options.onRoundTrip?.(Number(process.hrtime.bigint() - started) / 1e9, batch.length, ok);
            settle();
            this.flush();
        };
        const failAll = (reason: HitFailureReason, message: string) => {
            const err = new HitNotRecordedError(reason, message);
            finish(false, () => batch.forEach((w) => w.reject(err)));
        };
        // A pipeline stuck behind a failover is abandoned when its oldest hit's time is up (its
        // hits are not acknowledged); its slot is freed so new requests are not held behind it.
        const timer = setTimeout(
            () => failAll("timeout", `Redis did not answer within ${this.options.timeoutMs} ms of the hit's arrival`),
            Math.max(0, batch[0].deadline - performance.now()),
        );

        const { waitReplicas, waitTimeoutMs } = this.options;
        const attempt = (retriesLeft: number) => {
            const pipeline = this.redis.pipeline().incrby(this.key, batch.length);
            if (waitReplicas > 0) pipeline.call("wait", String(waitReplicas), String(waitTimeoutMs));
            pipeline.exec().then(
                (results) => {
                    if (settled) return;
                    const [incrErr, newValue] = results?.[0] ?? [new Error("empty pipeline reply"), null];
                    if (incrErr && retriesLeft > 0 && NOT_EXECUTED.test(incrErr.message)) {
                        // The INCRBY was refused, not run (the keyless WAIT succeeded, so ioredis
                        // did not retry the pipeline itself): learn the new owner and send again.
                        this.redis.refreshSlotsCache();
                        setTimeout(() => attempt(retriesLeft - 1), this.retryDelayMs);
                        return;
                    }
                    if (incrErr || typeof newValue !== "number") {
                        return failAll(
                            "redis_unavailable",
                            `INCRBY ${this.key} failed: ${incrErr?.message ?? `unexpected reply ${String(newValue)}`}`,
                        );
                    }
                    if (waitReplicas > 0) {
                        const [waitErr, acked] = results?.[1] ?? [new Error("no WAIT reply"), null];
                        if (waitErr) return failAll("redis_unavailable", `WAIT failed: ${waitErr.message}`);
                        if (typeof acked !== "number" || acked < waitReplicas) {
                            return failAll(
                                "not_durable",
                                `only ${String(acked)} of ${waitReplicas} replica(s) confirmed the write within ${waitTimeoutMs} ms`,
                            );
                        }
                    }
                    const first = newValue - batch.length + 1;
                    finish(true, () => batch.forEach((w, i) => w.resolve(first + i)));
                },
                (err: Error) => failAll("redis_unavailable", err.message),
            );
        };
        attempt(MAX_REDIRECT_RETRIES);
    }

    /** Hits queued or in flight. */
    get pending(): number {
        return this.queue.length + this.inFlightHits;
    }
}
