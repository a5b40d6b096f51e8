/** What `status` says about each pod: the kubelet's view plus what the pod's redis-server reports. */
import { DirectTransport } from "../components/formation/transport";
import { LocalPod, PodStatus } from "./pod";
import { PodView } from "./protocol";
import { redisEndpoint } from "./rules";

/** Why a pod is not Ready: its last failed probe's output, else its phase. */
export function notReadyBecause(p: PodStatus | undefined): string {
    if (!p) return "being replaced";
    return p.containers.map((c) => c.notReadyBecause).find((w) => w) ?? p.phase;
}

/** A pod between its deletion and its replacement. */
export function replacingView(name: string, address: string): PodView {
    return {
        name,
        address,
        phase: "Pending",
        frozen: false,
        ready: false,
        started: false,
        restarts: 0,
        containers: [],
        createdAt: Date.now(),
        redisError: "being replaced",
    };
}

/** Pure: whether CLUSTER INFO shows a node that joined a cluster (knows another node or has slots), as probe.sh tells them apart. */
export function joinedCluster(clusterInfo: string): boolean {
    const known = Number(/cluster_known_nodes:(\d+)/.exec(clusterInfo)?.[1] ?? 0);
    const assigned = Number(/cluster_slots_assigned:(\d+)/.exec(clusterInfo)?.[1] ?? 0);
    return known > 1 || assigned > 0;
}

/** Role (none for a node in no cluster), master and cluster_state as the pod's redis-server reports them. */
export async function redisView(
    pod: LocalPod,
    transport: DirectTransport,
    addresses: ReadonlyMap<string, string>,
): Promise<Partial<PodView>> {
    if (pod.isFrozen) return { redisError: "frozen" };
    if (!pod.status().containers[0]?.pid) return { redisError: "not running" };
    const address = redisEndpoint(pod.address);
    try {
        const [replication, info] = await Promise.all([
            transport.call(address, ["INFO", "replication"]),
            transport.call(address, ["CLUSTER", "INFO"]),
        ]);
        const clusterState = /cluster_state:(\w+)/.exec(info)?.[1];
        // A node of no cluster yet (an idle surge pod, a pod before formation) is nobody's master.
        if (!joinedCluster(info)) return { clusterState };
        const role = /role:(\w+)/.exec(replication)?.[1] === "master" ? "master" : "replica";
        const masterHost = /master_host:([^\r\n]+)/.exec(replication)?.[1];
        const master = masterHost ? ([...addresses].find(([, a]) => a === masterHost)?.[0] ?? masterHost) : undefined;
        return { role, master: role === "replica" ? master : undefined, clusterState };
    } catch (e) {
        return { redisError: (e as Error).message };
    }
}
