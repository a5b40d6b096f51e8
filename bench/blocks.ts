/**
 * The loopback blocks (127.0.<block>.x) of every benchmark: one table, so two benchmarks never share
 * a block and none strays into a test file's (test/support/loopbackBlocks.ts reserves BENCH_BLOCK_RANGE
 * for them; test/unit/loopbackBlocks.test.ts checks the table against it).
 */
export const BENCH_BLOCK_RANGE = { first: 40, last: 60 } as const;

const range = (first: number, last: number): readonly number[] => Array.from({ length: last - first + 1 }, (_, i) => first + i);

export const BENCH_BLOCKS = {
    /** bench:formation: each attempt on fresh addresses, cycling through these. */
    formation: range(40, 49),
    /** bench:failover: setups take these in turn (a run stops its block's processes before the next). */
    failover: range(50, 57),
    /** bench:http: the plain cluster, and the TLS cluster. */
    http: [58],
    httpTls: [60],
    /** bench:app-limits. */
    appLimits: [59],
} as const satisfies Record<string, readonly number[]>;
