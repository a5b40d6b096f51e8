/**
 * Bounded concurrent load on the hit counter that records every answer, and the checks a
 * failover must pass. Shared by the drill, the runtime and failover tests and the benchmarks.
 */
import * as http from "http";
import * as net from "net";
import { setTimeout as sleep } from "timers/promises";

export interface HitAnswer {
    readonly client: number;
    /** ms since the load started (performance clock). */
    readonly start: number;
    readonly end: number;
    /** HTTP status, or 0 when the request failed below HTTP. */
    readonly status: number;
    /** The count of an acknowledged (200) hit. */
    readonly count?: number;
    /** Body of a refused request (first line), for the report. */
    readonly refusal?: string;
}

export interface LoadOptions {
    readonly url: string;
    /** Concurrent clients, each with its own keep-alive connection. */
    readonly clients: number;
    /** Pause after a failed request, so a failover is not hammered. */
    readonly retryPauseMs?: number;
    /** Hard cap on requests, whatever happens (default DEFAULT_MAX_REQUESTS); `capped` says when it was reached. */
    readonly maxRequests?: number;
}

export const DEFAULT_MAX_REQUESTS = 200_000;

const COUNT = /I have been hit (\d+) times since deployment\./;

export class HitLoad {
    readonly answers: HitAnswer[] = [];
    private stopped = false;
    private readonly agent: http.Agent;
    private readonly t0 = performance.now();
    private readonly done: Promise<void>;

    constructor(private readonly o: LoadOptions) {
        this.agent = new http.Agent({ keepAlive: true, maxSockets: o.clients });
        this.done = Promise.all(Array.from({ length: o.clients }, (_, i) => this.client(i))).then(() => undefined);
    }

    get maxRequests(): number {
        return this.o.maxRequests ?? DEFAULT_MAX_REQUESTS;
    }

    /**
     * Whether the load stopped at its cap: nothing after that was measured, so a measurement that
     * spans beyond it would miss its gaps (the drill and the chaos run refuse such a result).
     */
    get capped(): boolean {
        return this.answers.length >= this.maxRequests;
    }

    /** ms since the load started. */
    now(): number {
        return performance.now() - this.t0;
    }

    private request(): Promise<{ status: number; body: string }> {
        return new Promise((resolve) => {
            const req = http.get(this.o.url, { agent: this.agent, timeout: 10_000 }, (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (c: string) => (body += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
                res.on("error", () => resolve({ status: 0, body: "" }));
            });
            req.on("timeout", () => req.destroy(new Error("timeout")));
            req.on("error", () => resolve({ status: 0, body: "" }));
        });
    }

    private async client(id: number): Promise<void> {
        const max = this.maxRequests;
        while (!this.stopped && this.answers.length < max) {
            const start = this.now();
            const { status, body } = await this.request();
            const m = status === 200 ? COUNT.exec(body) : null;
            this.answers.push({
                client: id,
                start,
                end: this.now(),
                status,
                count: m ? Number(m[1]) : undefined,
                refusal: status === 200 ? undefined : body.split("\n", 1)[0] || "no HTTP answer",
            });
            if (status !== 200) await sleep(this.o.retryPauseMs ?? 20);
        }
    }

    /** Resolves at the first acknowledged hit whose request started at or after `since` (ms), or undefined after `timeoutMs`. */
    async firstSuccessAfter(since: number, timeoutMs: number): Promise<HitAnswer | undefined> {
        const deadline = this.now() + timeoutMs;
        while (this.now() < deadline) {
            const hit = this.answers.find((a) => a.status === 200 && a.start >= since);
            if (hit) return hit;
            await sleep(10);
        }
        return undefined;
    }

    async stop(): Promise<void> {
        this.stopped = true;
        await this.done;
        this.agent.destroy();
    }
}

export interface FailoverFindings {
    readonly acknowledged: number;
    readonly failed: number;
    readonly maxCount: number;
    /** Acknowledged counts returned twice (must be empty). */
    readonly repeated: number[];
    /** Answers whose count is not above a count already returned before the request started (must be empty). */
    readonly wentBackwards: HitAnswer[];
}

/**
 * Checks the answers: every acknowledged count is unique, and no request got a count
 * at or below one that had already been returned before it started.
 */
export function analyseAnswers(answers: readonly HitAnswer[]): FailoverFindings {
    const acked = answers.filter((a): a is HitAnswer & { count: number } => a.status === 200 && a.count !== undefined);
    const seen = new Set<number>();
    const repeated: number[] = [];
    for (const a of acked) {
        if (seen.has(a.count)) repeated.push(a.count);
        seen.add(a.count);
    }
    const byEnd = [...acked].sort((a, b) => a.end - b.end);
    const byStart = [...acked].sort((a, b) => a.start - b.start);
    const wentBackwards: HitAnswer[] = [];
    let i = 0;
    let maxEnded = -Infinity;
    for (const a of byStart) {
        while (i < byEnd.length && byEnd[i].end < a.start) maxEnded = Math.max(maxEnded, byEnd[i++].count);
        if (a.count <= maxEnded) wentBackwards.push(a);
    }
    return {
        acknowledged: acked.length,
        failed: answers.length - acked.length,
        maxCount: acked.reduce((m, a) => Math.max(m, a.count), 0),
        repeated,
        wentBackwards,
    };
}

/**
 * The write-unavailability window after an event at `since` (ms on the load's clock): until the
 * first acknowledged hit of a request sent at or after it; undefined when none was acknowledged.
 */
export function writeWindowMs(answers: readonly HitAnswer[], since: number): number | undefined {
    const ends = answers.filter((a) => a.status === 200 && a.start >= since).map((a) => a.end);
    // reduce, not Math.min(...ends): a minute of load is more answers than a call takes arguments.
    return ends.length === 0 ? undefined : ends.reduce((m, e) => Math.min(m, e), Infinity) - since;
}

/** The longest time with no acknowledged hit between the first and the last one (ms); 0 with fewer than two. */
export function longestWriteGapMs(answers: readonly HitAnswer[]): number {
    return writeGaps(answers, 0).reduce((m, g) => Math.max(m, g.ms), 0);
}

/** A time without acknowledged hits: from one acknowledged hit's answer to the next (ms on the load's clock). */
export interface WriteGap {
    readonly from: number;
    readonly to: number;
    readonly ms: number;
}

/** Every gap between consecutive acknowledged hits of at least `minMs`, in time order. */
export function writeGaps(answers: readonly HitAnswer[], minMs: number): WriteGap[] {
    const ends = answers
        .filter((a) => a.status === 200)
        .map((a) => a.end)
        .sort((a, b) => a - b);
    const gaps: WriteGap[] = [];
    for (let i = 1; i < ends.length; i++)
        if (ends[i] - ends[i - 1] >= minMs) gaps.push({ from: ends[i - 1], to: ends[i], ms: ends[i] - ends[i - 1] });
    return gaps;
}

/** The time spent in gaps between acknowledged hits of at least `minMs` (ms): how long writes were unavailable in all. */
export function unavailableMs(answers: readonly HitAnswer[], minMs: number): number {
    return writeGaps(answers, minMs).reduce((sum, g) => sum + g.ms, 0);
}

/** The longest gap between acknowledged hits that overlaps [from, to] (ms on the load's clock); 0 when none does. */
export function longestGapWithin(answers: readonly HitAnswer[], from: number, to: number): number {
    return writeGaps(answers, 0)
        .filter((g) => g.to >= from && g.from <= to)
        .reduce((m, g) => Math.max(m, g.ms), 0);
}

/**
 * Acknowledged hits the cluster lost or re-issued: the highest acknowledged count above the final
 * counter, plus counts returned twice or below one already returned (must be 0).
 */
export function acknowledgedHitsLost(f: FailoverFindings, finalCounter: number): number {
    return Math.max(0, f.maxCount - finalCounter) + f.repeated.length + f.wentBackwards.length;
}

/**
 * A loopback block of `blocks` whose first node address is not in use. Several mocha
 * runs may share this machine (and every run loads every spec), so a run picks one of
 * its blocks at random and skips taken ones instead of colliding.
 */
export async function pickFreeBlock(blocks: readonly number[]): Promise<number> {
    const inUse = (host: string) =>
        new Promise<boolean>((resolve) => {
            const s = net.connect({ host, port: 6379 });
            s.once("connect", () => (s.destroy(), resolve(true)));
            s.once("error", () => resolve(false));
        });
    const order = [...blocks].sort(() => Math.random() - 0.5);
    for (const b of order) if (!(await inUse(`127.0.${b}.11`))) return b;
    throw new Error(`every loopback block of ${blocks.join(",")} is in use`);
}
