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

/** Role, master and cluster_state as the pod's redis-server reports them. */
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
        const role = /role:(\w+)/.exec(replication)?.[1] === "master" ? "master" : "replica";
        const masterHost = /master_host:([^\r\n]+)/.exec(replication)?.[1];
        const master = masterHost ? ([...addresses].find(([, a]) => a === masterHost)?.[0] ?? masterHost) : undefined;
        return { role, master: role === "replica" ? master : undefined, clusterState: /cluster_state:(\w+)/.exec(info)?.[1] };
    } catch (e) {
        return { redisError: (e as Error).message };
    }
}
