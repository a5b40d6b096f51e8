/**
 * RedisCluster: registers the objects rendered by manifests.ts with one Kubernetes provider.
 * Forming the cluster (slots, replicas) is the formation resource's job, not this component's.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { RedisSettings } from "../config";
import {
    LabelSelectorMatch,
    RedisObjectNames,
    redisObjectNames,
    renderNamespace,
    renderRedisManifests,
    podNaming,
    REDIS_CONTAINER,
} from "./manifests";
import { seedEndpoints, serviceEndpoint } from "../shape";

/**
 * Characters a generated password may contain besides letters and digits: URL-unreserved, so the
 * password is safe in redis.conf quoting, shell, and `redis://:pw@host` URLs alike.
 */
export const PASSWORD_SPECIALS = "-_.~";

export interface RedisClusterArgs {
    /** Namespace to create; everything of this cluster lives in it. */
    readonly namespace: string;
    readonly redis: RedisSettings;
    /** The provider of the target cluster: every Kubernetes object is created through it. */
    readonly provider: k8s.Provider;
    /** Labels of the pods that may connect as clients (the app). */
    readonly clientPodLabels: LabelSelectorMatch;
    /** Password (secret); generated with @pulumi/random when absent. */
    readonly password?: pulumi.Input<string>;
}

export class RedisCluster extends pulumi.ComponentResource {
    public readonly namespace: pulumi.Output<string>;
    /** Names of the objects (StatefulSet, Services, Secret, ...) for the app and the formation. */
    public readonly names: RedisObjectNames;
    public readonly redisContainerName = REDIS_CONTAINER;
    /** Stable `host:port` of every pod (headless-Service DNS names). */
    public readonly seeds: pulumi.Output<string[]>;
    /** `<client Service>.<namespace>.svc.cluster.local:6379`: resolves from any namespace. */
    public readonly clientEndpoint: pulumi.Output<string>;
    /** The password, secret. */
    public readonly password: pulumi.Output<string>;
    public readonly statefulSet: k8s.apps.v1.StatefulSet;
    /** Gives pods their stable DNS names; formation and clients need it, pod start does not. */
    public readonly headlessService: k8s.core.v1.Service;
    public readonly secret: k8s.core.v1.Secret;

    constructor(name: string, args: RedisClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("redis-cluster-gke:redis:RedisCluster", name, {}, opts);
        const manifestOptions = { name, namespace: args.namespace, redis: args.redis, clientPodLabels: args.clientPodLabels };
        this.names = redisObjectNames(name);

        const password =
            args.password !== undefined
                ? pulumi.secret(args.password)
                : new random.RandomPassword(
                      `${name}-password`,
                      { length: 32, special: true, overrideSpecial: PASSWORD_SPECIALS },
                      { parent: this },
                  ).result;
        this.password = pulumi.secret(password);

        const k8sOpts: pulumi.CustomResourceOptions = { parent: this, provider: args.provider };
        // Every other object depends on the Namespace, so the component's dependsOn (the scale guard) holds them all.
        const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, renderNamespace(args.namespace), {
            ...k8sOpts,
            dependsOn: opts?.dependsOn,
        });
        const inNamespace: pulumi.CustomResourceOptions = { ...k8sOpts, dependsOn: [namespace] };
        const m = renderRedisManifests(manifestOptions, this.password);

        this.secret = new k8s.core.v1.Secret(`${name}-secret`, m.secret, inNamespace);
        const configMap = new k8s.core.v1.ConfigMap(`${name}-config`, m.configMap, inNamespace);
        // Not a dependency of the StatefulSet: Pulumi waits for a Service's endpoints, which exist only
        // once the pods do. A first start needs no DNS (nodes.conf is empty); restarts find it in place.
        this.headlessService = new k8s.core.v1.Service(`${name}-headless`, m.headlessService, inNamespace);
        const client = new k8s.core.v1.Service(`${name}-client`, m.clientService, inNamespace);
        // Pods need their Secret and ConfigMap before they start.
        this.statefulSet = new k8s.apps.v1.StatefulSet(`${name}-statefulset`, m.statefulSet, {
            ...inNamespace,
            dependsOn: [namespace, this.secret, configMap],
        });
        const pdb = new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, m.podDisruptionBudget, inNamespace);
        const networkPolicy = new k8s.networking.v1.NetworkPolicy(`${name}-network-policy`, m.networkPolicy, inNamespace);

        this.namespace = namespace.metadata.name;
        this.seeds = pulumi.output(seedEndpoints(podNaming(manifestOptions), args.redis));
        this.clientEndpoint = pulumi.all([client.metadata.name, this.namespace]).apply(([service, ns]) => serviceEndpoint(service, ns));
        this.registerOutputs({
            namespace: this.namespace,
            seeds: this.seeds,
            clientEndpoint: this.clientEndpoint,
            password: this.password,
            statefulSetName: this.statefulSet.metadata.name,
            podDisruptionBudgetName: pdb.metadata.name,
            networkPolicyName: networkPolicy.metadata.name,
        });
    }
}
