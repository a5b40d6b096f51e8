/**
 * Redis defaults shared by the Pulumi program and the Pulumi-free local tools (local cluster,
 * benchmarks): kept apart from config.ts so those tools do not load @pulumi/pulumi (~0.8 s).
 */

/**
 * Default `cluster-node-timeout`. Since the failover agent takes over a crashed master at once and
 * a stopping master hands its slots over first (README "Failover"), only a master that stops
 * answering without refusing connections (a frozen VM, a partition) waits for this timeout: its
 * slots are unwritable for about 1.5 x this + 1.5 s. The price of a short timeout is failing over
 * a master that is alive but stalls (a fork of a large dataset, a stalled disk, CPU throttling, a
 * live migration); 3000 ms rides out stalls of up to 3 s, where the former 1000 ms did not.
 * Measured with `npm run bench:failover` (README "Benchmarks").
 */
export const DEFAULT_NODE_TIMEOUT_MS = 3000;

/**
 * Longest time a stopping master's preStop hook (handover.sh) may spend handing its slots over:
 * two attempts of Redis's 5 s manual failover (CLUSTER_MF_TIMEOUT) plus the announcement.
 */
export const HANDOVER_TIMEOUT_SECONDS = 12;

/**
 * Redis's `shutdown-timeout` default: at SIGTERM a master that still holds slots (its handover
 * failed, or there was none) waits up to this long for its replicas to catch up.
 */
export const REDIS_SHUTDOWN_TIMEOUT_SECONDS = 10;

/** The Redis pods' terminationGracePeriodSeconds: the handover, then Redis's own shutdown, then a margin for the AOF. */
export const REDIS_TERMINATION_GRACE_SECONDS = HANDOVER_TIMEOUT_SECONDS + REDIS_SHUTDOWN_TIMEOUT_SECONDS + 8;

/**
 * How long the surge node stays in a shard once the shard has its own replica back (surge.sh): the
 * next stop of a rolling update usually comes within a probe period or two and then finds it attached
 * (no second MEET, no second full sync when it is the same shard); after that it leaves, so at rest it
 * holds no data and is nobody's replica.
 */
export const SURGE_RETIRE_SECONDS = 15;
