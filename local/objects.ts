/**
 * The Redis objects of a local cluster, rendered from what DIR records (cluster.json) by the same
 * settings parser and renderers as `pulumi up`: `up` writes them to DIR, `scale` renders the
 * ConfigMap again for the new shape (its surge pod's name changes with the shape).
 */
import { hitCounterPodLabels } from "../components/app/hitCounter";
import { WorkloadSettings, parseWorkloadSettings } from "../components/config";
import { RedisManifestOptions } from "../components/redis/manifests";
import { APP_NAME, REDIS_NAME } from "../components/stack";
import { ClusterConfig } from "./state";

/** The stack config a local cluster stands for: its recorded choices as `redis:*` keys (an unrecorded choice takes the default). */
export function localSettings(
    config: Pick<ClusterConfig, "masters" | "replicasPerMaster" | "nodeTimeoutMs" | "tls" | "handover" | "takeover" | "surgeReplica">,
): WorkloadSettings {
    return parseWorkloadSettings({
        "redis:masters": String(config.masters),
        "redis:replicasPerMaster": String(config.replicasPerMaster),
        "redis:nodeTimeoutMs": String(config.nodeTimeoutMs),
        "redis:tls": String(config.tls !== undefined),
        "redis:handover": String(config.handover),
        "redis:takeover": String(config.takeover),
        ...(config.surgeReplica !== undefined ? { "redis:surgeReplica": String(config.surgeReplica) } : {}),
    });
}

/** What the renderers take, for the settings of a local cluster. */
export function localManifestOptions(settings: WorkloadSettings): RedisManifestOptions {
    return { name: REDIS_NAME, namespace: settings.namespace, redis: settings.redis, clientPodLabels: hitCounterPodLabels(APP_NAME) };
}
