/** Hash slots as ranges and numbers: the small arithmetic every formation module shares. Pure. */
import { SLOT_COUNT } from "../shape";

/** Inclusive slot range. */
export type SlotRange = readonly [number, number];

/** Splits all slots into `masters` contiguous ranges whose sizes differ by at most one. */
export function splitSlots(masters: number): SlotRange[] {
    return Array.from({ length: masters }, (_, i) => {
        const start = Math.floor((i * SLOT_COUNT) / masters);
        const end = Math.floor(((i + 1) * SLOT_COUNT) / masters) - 1;
        return [start, end] as const;
    });
}

/** Compresses slot numbers (any order) into sorted inclusive ranges. */
export function toRanges(slots: readonly number[]): SlotRange[] {
    const sorted = [...slots].sort((a, b) => a - b);
    const out: [number, number][] = [];
    for (const s of sorted) {
        const last = out[out.length - 1];
        if (last && s === last[1] + 1) last[1] = s;
        else out.push([s, s]);
    }
    return out;
}

/** Slot numbers of inclusive ranges. */
export function expandSlots(ranges: readonly SlotRange[]): number[] {
    const out: number[] = [];
    for (const [a, b] of ranges) for (let s = a; s <= b; s++) out.push(s);
    return out;
}

/** Slots in inclusive ranges. */
export function countSlots(ranges: readonly SlotRange[]): number {
    return ranges.reduce((n, [a, b]) => n + b - a + 1, 0);
}

/** Ranges as redis-cli and the README show them: `0-5460,5462`. */
export function formatRanges(ranges: readonly SlotRange[]): string {
    return ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(",");
}
