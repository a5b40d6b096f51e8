/** Summary statistics of the benchmarks: one definition of each. */

/** Median: the middle value, or the mean of the two middle values of an even count. NaN for no values. */
export function median(values: readonly number[]): number {
    if (values.length === 0) return NaN;
    const s = [...values].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The largest value: the worst run of a time or a loss (NaN for no values). */
export function worst(values: readonly number[]): number {
    return values.length === 0 ? NaN : Math.max(...values);
}

/** The smallest value (NaN for no values). */
export function best(values: readonly number[]): number {
    return values.length === 0 ? NaN : Math.min(...values);
}
