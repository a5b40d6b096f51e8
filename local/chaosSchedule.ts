/**
 * Pure: the fault schedule of `npm run local -- chaos`, a function of its seed alone, so a run that
 * found something is replayed with the same seed. Faults come one after another (the runner waits
 * for the cluster to settle after each): every kind appears once in each round of four, in an order
 * the seed shuffles; half the faults hit the master that owns `hits` at that moment (resolved when
 * the fault is applied), the others a pod chosen by ordinal.
 */

export const FAULT_KINDS = ["kill", "delete", "freeze", "roll"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Who a fault hits: the master of `hits` when it is applied, or a pod by ordinal (a roll hits every pod). */
export type FaultTarget = { readonly master: true } | { readonly ordinal: number } | { readonly all: true };

export interface Fault {
    readonly kind: FaultKind;
    readonly target: FaultTarget;
    /** Pause before the fault, after the cluster settled from the previous one. */
    readonly pauseMs: number;
    /** freeze: how long the pod stays frozen before it is thawed (0 for the other kinds). */
    readonly holdMs: number;
}

export interface ScheduleOptions {
    /** Redis pods of the cluster (ordinals 0 … pods-1). */
    readonly pods: number;
    /** The cluster's node timeout: freezes last from well below it to well above it. */
    readonly nodeTimeoutMs: number;
    /** How many faults to draw (the runner stops starting new ones when its time is up). */
    readonly count: number;
}

export const PAUSE_MS = { min: 500, max: 3000 } as const;
/** Frozen from half a second (a hiccup Redis rides out) up to twice the node timeout (a lost machine, failed over). */
export const HOLD_MIN_MS = 500;

/** mulberry32: a small, well-distributed 32-bit PRNG; the same seed gives the same sequence everywhere. */
export function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

function between(random: () => number, min: number, max: number): number {
    return Math.round(min + random() * (max - min));
}

/** The faults for `seed`: kinds in rounds of four, each round shuffled; targets, pauses and freeze lengths drawn. */
export function chaosSchedule(seed: number, o: ScheduleOptions): Fault[] {
    if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed: expected a whole number >= 0, got ${seed}`);
    if (o.pods < 1) throw new Error(`chaos: a cluster of ${o.pods} pods`);
    const random = prng(seed);
    const faults: Fault[] = [];
    while (faults.length < o.count) {
        const round = [...FAULT_KINDS];
        for (let i = round.length - 1; i > 0; i--) {
            const j = Math.floor(random() * (i + 1));
            [round[i], round[j]] = [round[j], round[i]];
        }
        for (const kind of round) {
            if (faults.length >= o.count) break;
            const target: FaultTarget =
                kind === "roll" ? { all: true } : random() < 0.5 ? { master: true } : { ordinal: Math.floor(random() * o.pods) };
            faults.push({
                kind,
                target,
                pauseMs: between(random, PAUSE_MS.min, PAUSE_MS.max),
                holdMs: kind === "freeze" ? between(random, HOLD_MIN_MS, 2 * o.nodeTimeoutMs) : 0,
            });
        }
    }
    return faults;
}

/** How a fault reads in the report. */
export function describeFault(f: Fault, pod?: string): string {
    const who = "all" in f.target ? "every pod" : (pod ?? ("master" in f.target ? "the master of hits" : `ordinal ${f.target.ordinal}`));
    const what = { kill: "SIGKILL", delete: "delete", freeze: `freeze ${f.holdMs} ms`, roll: "rolling restart" }[f.kind];
    return `${what} ${who}${"master" in f.target && pod ? " (the master of hits)" : ""}`;
}
