/**
 * Pure decisions of the local runtime, each the rule of the Kubernetes component it stands in for:
 * the kubelet's restart back-off, the StatefulSet controller's rolling-update order, and the
 * address a new pod gets (host-local IPAM hands out the next free address).
 */
import { CLIENT_PORT, ClusterShape, podCount, podOrdinal } from "../components/shape";

/** The kubelet's timings, all configurable for tests and drills. */
export interface KubeletTimings {
    /** Delay before the second restart of a crashing container; it doubles with each crash (kubelet: 10 s). */
    readonly backoffInitialMs: number;
    /** Upper bound of the delay (kubelet: 300 s). */
    readonly backoffMaxMs: number;
    /** A container that ran this long before it stopped restarts at once again (kubelet: 10 min). */
    readonly backoffResetMs: number;
    /**
     * From a deleted pod's end to its replacement's first container: on Kubernetes the StatefulSet
     * controller, the scheduler, the volume attach and a new sandbox with its new IP take seconds
     * (the Kubernetes pod-startup SLO is 5 s at the 99th percentile). Here only this wait stands for them.
     */
    readonly podStartDelayMs: number;
    /** Multiplies every probe period of the template (1 = as rendered; tests use less). */
    readonly probePeriodScale: number;
}

export const KUBELET_DEFAULTS: KubeletTimings = {
    backoffInitialMs: 10_000,
    backoffMaxMs: 300_000,
    backoffResetMs: 600_000,
    podStartDelayMs: 5_000,
    probePeriodScale: 1,
};

/** A container's back-off state: the delay its next crash will wait (0: it restarts at once). */
export interface Backoff {
    readonly nextDelayMs: number;
}

export const NO_BACKOFF: Backoff = { nextDelayMs: 0 };

/**
 * The kubelet's CrashLoopBackOff: a container that stopped after running `ranMs` restarts after
 * `delayMs`. The first restart is at once, the next after the initial delay, then twice as long each
 * time up to the cap; a container that ran for `backoffResetMs` starts over at once.
 */
export function restartDelay(state: Backoff, ranMs: number, t: KubeletTimings): { delayMs: number; next: Backoff } {
    const current = ranMs >= t.backoffResetMs ? NO_BACKOFF : state;
    const delayMs = Math.min(current.nextDelayMs, t.backoffMaxMs);
    const nextDelayMs = delayMs === 0 ? t.backoffInitialMs : Math.min(delayMs * 2, t.backoffMaxMs);
    return { delayMs, next: { nextDelayMs } };
}

/** The StatefulSet controller's RollingUpdate order: the highest ordinal first. */
export function rollOrder(statefulSet: string, pods: readonly string[]): string[] {
    return [...pods].sort((a, b) => (podOrdinal(statefulSet, b) ?? -1) - (podOrdinal(statefulSet, a) ?? -1));
}

/**
 * The pods that are members of a cluster of `shape`: the ordinals below its pod count. The StatefulSet
 * may run one more, the surge pod (components/shape.ts surgeOrdinal), which is no member at rest: the
 * formation, the drain, the drift and the app's seeds take the members only, as on Kubernetes.
 */
export function memberPods<P extends { readonly name: string }>(statefulSet: string, pods: readonly P[], shape: ClusterShape): P[] {
    const count = podCount(shape);
    return pods.filter((p) => (podOrdinal(statefulSet, p.name) ?? count) < count);
}

/** `address:port` of a pod's Redis: every pod listens on the same client port, as in the StatefulSet. */
export function redisEndpoint(address: string): string {
    return `${address}:${CLIENT_PORT}`;
}

/** First and last host number of pod addresses in a loopback block: 127.0.<block>.11 … .254. */
export const FIRST_HOST = 11;
export const LAST_HOST = 254;

/** Pods that fit in one loopback block. */
export const PODS_PER_BLOCK = LAST_HOST - FIRST_HOST + 1;

export function addressIn(block: number, host: number): string {
    return `127.0.${block}.${host}`;
}

/** The address of a first-time pod `ordinal`: 127.0.<block>.<11 + ordinal>. */
export function initialAddress(block: number, ordinal: number): string {
    const host = FIRST_HOST + ordinal;
    if (host > LAST_HOST) throw new Error(`ordinal ${ordinal}: at most ${PODS_PER_BLOCK} pods fit in one loopback block`);
    return addressIn(block, host);
}

/**
 * The address a new pod gets: the next one after the last handed out, skipping addresses in use and
 * wrapping around the block, as host-local IPAM does; so a recreated pod never gets its old address
 * back while others are free.
 */
export function nextAddress(block: number, lastHandedOut: string, inUse: ReadonlySet<string>): string {
    const last = Number(lastHandedOut.split(".")[3]);
    for (let step = 1; step <= PODS_PER_BLOCK; step++) {
        const host = FIRST_HOST + ((last - FIRST_HOST + step) % PODS_PER_BLOCK);
        const candidate = addressIn(block, host);
        if (!inUse.has(candidate) && candidate !== lastHandedOut) return candidate;
    }
    throw new Error(`no free address left in 127.0.${block}.${FIRST_HOST}-${LAST_HOST}`);
}
