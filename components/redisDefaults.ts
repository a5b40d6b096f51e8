/**
 * Redis defaults shared by the Pulumi program and the Pulumi-free local tools (local cluster,
 * benchmarks): kept apart from config.ts so those tools do not load @pulumi/pulumi (~0.8 s).
 */

/**
 * Default `cluster-node-timeout`. A lost master's slots stay unwritable for about this long plus
 * ~1.3 s (FAIL agreement, election delay of 0.5-1 s, vote). Measured with `npm run bench:failover`
 * (durable writes under load): 1000 ms -> 2.4 s window, 1500 -> 3.1 s, 2000 -> 4.0 s, the tutorial's
 * 15000 -> 19.3 s; 1000 is the largest that meets the <= 3 s goal. The price: a node that cannot
 * answer its peers for 1 s (a long fork, a stalled disk, a VM live migration on a busy GKE node) is
 * failed over although alive. With WAIT that costs a ~2.5 s write pause, never an acknowledged hit;
 * raise `redis:nodeTimeoutMs` for large datasets.
 */
export const DEFAULT_NODE_TIMEOUT_MS = 1000;
