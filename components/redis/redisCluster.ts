/**
 * RedisCluster: registers the objects rendered by manifests.ts with one Kubernetes provider.
 * Forming the cluster (slots, replicas) is the formation resource's job, not this component's.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { RedisSettings } from "../config";
import { FormationRbacManifests } from "./formationRbac";
import {
    LabelSelectorMatch,
    RedisObjectNames,
    redisObjectNames,
    renderNamespace,
    renderRedisManifests,
    renderRetainStorageClass,
    podNaming,
    REDIS_CONTAINER,
} from "./manifests";
import { seedEndpoints, serviceEndpoint } from "../shape";
import { RedisCertificates } from "./certificates";
import { serverCertificateNames } from "./tls";
import { ACL_USERS, AclUserName } from "./acl";

/**
 * Characters a generated password may contain besides letters and digits: URL-unreserved, so the
 * password is safe in redis.conf quoting, shell, and `redis://:pw@host` URLs alike.
 */
export const PASSWORD_SPECIALS = "-_.~";

/**
 * Each user's password: the one given in config, else a generated one whose `keepers` hold the
 * rotation trigger (`redis:passwordRotation`), so a new trigger gives it a new value.
 */
export function userPasswords(name: string, redis: RedisSettings, parent?: pulumi.Resource): Record<AclUserName, pulumi.Output<string>> {
    const keepers = redis.passwordRotation !== undefined ? { rotation: redis.passwordRotation } : undefined;
    const entries = ACL_USERS.map((user) => {
        const given = redis.passwords[user];
        const password =
            given !== undefined
                ? pulumi.output(given)
                : new random.RandomPassword(
                      `${name}-${user}-password`,
                      { length: 32, special: true, overrideSpecial: PASSWORD_SPECIALS, ...(keepers ? { keepers } : {}) },
                      { parent },
                  ).result;
        return [user, pulumi.secret(password)] as const;
    });
    return Object.fromEntries(entries) as Record<AclUserName, pulumi.Output<string>>;
}

export interface RedisClusterArgs {
    /** Namespace to create; everything of this cluster lives in it. */
    readonly namespace: string;
    readonly redis: RedisSettings;
    /** The provider of the target cluster: every Kubernetes object is created through it. */
    readonly provider: k8s.Provider;
    /** Labels of the pods that may connect as clients (the app). */
    readonly clientPodLabels: LabelSelectorMatch;
    /** Every ACL user's password (userPasswords). */
    readonly passwords: Readonly<Record<AclUserName, pulumi.Output<string>>>;
    /**
     * What must happen before the users Secret changes: a rotation's phase 1, which adds the new
     * passwords while in-pod scripts still authenticate with the old admin password.
     */
    readonly usersSecretAfter?: pulumi.Input<pulumi.Resource>[];
    /**
     * Keep the Namespace, and with it the PVCs and the data, when the stack deletes it (`pulumi
     * destroy`, or a new namespace name that replaces it): Pulumi then only forgets it.
     */
    readonly retainOnDestroy: boolean;
    /** Create the GKE StorageClass that `redis.storageClass` names (renderRetainStorageClass). */
    readonly createRetainStorageClass: boolean;
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
    /** Every ACL user's password (secret), given in config or generated. */
    public readonly passwords: Readonly<Record<AclUserName, pulumi.Output<string>>>;
    public readonly statefulSet: k8s.apps.v1.StatefulSet;
    /** Gives pods their stable DNS names; formation and clients need it, pod start does not. */
    public readonly headlessService: k8s.core.v1.Service;
    /** Every user's password, mounted by the Redis pods. */
    public readonly usersSecret: k8s.core.v1.Secret;
    /** The client users' own Secrets (hitcounter, client, exporter). */
    public readonly userSecrets: Readonly<Partial<Record<AclUserName, k8s.core.v1.Secret>>>;
    /** With TLS: the CA clients trust, the ConfigMap that holds it, and when the server certificate expires. */
    public readonly tls?: {
        readonly caPem: pulumi.Output<string>;
        readonly caConfigMapName: pulumi.Output<string>;
        readonly notAfter: pulumi.Output<string>;
    };

    constructor(name: string, args: RedisClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("redis-cluster-gke:redis:RedisCluster", name, {}, opts);
        const manifestOptions = { name, namespace: args.namespace, redis: args.redis, clientPodLabels: args.clientPodLabels };
        this.names = redisObjectNames(name);

        this.passwords = args.passwords;

        const k8sOpts: pulumi.CustomResourceOptions = { parent: this, provider: args.provider };
        // Every other object depends on the Namespace, so the component's dependsOn (the scale-in drain) holds them all.
        const namespace = new k8s.core.v1.Namespace(`${name}-namespace`, renderNamespace(args.namespace), {
            ...k8sOpts,
            dependsOn: opts?.dependsOn,
            retainOnDelete: args.retainOnDestroy,
        });
        // Deleting a StorageClass leaves its volumes alone (each PV keeps its own reclaim policy): not retained.
        const storageClass = args.createRetainStorageClass
            ? [new k8s.storage.v1.StorageClass(`${name}-storage-class`, renderRetainStorageClass(args.retainOnDestroy), k8sOpts)]
            : [];
        const inNamespace: pulumi.CustomResourceOptions = { ...k8sOpts, dependsOn: [namespace] };
        const certificates = args.redis.tls
            ? new RedisCertificates(
                  `${name}-tls`,
                  {
                      ...serverCertificateNames({
                          headlessService: this.names.headlessService,
                          clientService: this.names.clientService,
                          namespace: args.namespace,
                      }),
                      userCa: args.redis.tlsCa,
                  },
                  { parent: this },
              )
            : undefined;
        const m = renderRedisManifests(manifestOptions, this.passwords, certificates?.material);

        // Running pods see a changed Secret (the kubelet updates mounted files, the app re-reads its own):
        // every password Secret changes only after a rotation's phase 1 accepts the new passwords.
        const passwordSecretOpts = { ...inNamespace, dependsOn: [namespace, ...(args.usersSecretAfter ?? [])] };
        this.usersSecret = new k8s.core.v1.Secret(`${name}-users-secret`, m.usersSecret, passwordSecretOpts);
        this.userSecrets = Object.fromEntries(
            Object.entries(m.userSecrets).map(([user, secret]) => [
                user,
                new k8s.core.v1.Secret(`${name}-user-${user}`, secret, passwordSecretOpts),
            ]),
        );
        const configMap = new k8s.core.v1.ConfigMap(`${name}-config`, m.configMap, inNamespace);
        const tlsSecret = m.tlsSecret ? [new k8s.core.v1.Secret(`${name}-tls-secret`, m.tlsSecret, inNamespace)] : [];
        if (certificates && m.caConfigMap) {
            const caConfigMap = new k8s.core.v1.ConfigMap(`${name}-ca`, m.caConfigMap, inNamespace);
            this.tls = { caPem: certificates.caPem, caConfigMapName: caConfigMap.metadata.name, notAfter: certificates.notAfter };
        }
        // Not a dependency of the StatefulSet: Pulumi waits for a Service's endpoints, which exist only
        // once the pods do. A first start needs no DNS (nodes.conf is empty); restarts find it in place.
        this.headlessService = new k8s.core.v1.Service(`${name}-headless`, m.headlessService, inNamespace);
        const client = new k8s.core.v1.Service(`${name}-client`, m.clientService, inNamespace);
        // Pods need their Secret and ConfigMap before they start.
        // The scale-in drain directly too: its update empties the pods a smaller StatefulSet removes.
        this.statefulSet = new k8s.apps.v1.StatefulSet(`${name}-statefulset`, m.statefulSet, {
            ...inNamespace,
            dependsOn: [
                namespace,
                this.usersSecret,
                ...Object.values(this.userSecrets),
                configMap,
                ...tlsSecret,
                ...storageClass,
                ...dependencies(opts?.dependsOn),
            ],
        });
        const pdb = new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, m.podDisruptionBudget, inNamespace);
        const networkPolicy = new k8s.networking.v1.NetworkPolicy(`${name}-network-policy`, m.networkPolicy, inNamespace);
        this.registerFormationRbac(name, m.formationRbac, inNamespace, k8sOpts);
        if (m.podMonitoring) {
            new k8s.apiextensions.CustomResource(`${name}-pod-monitoring`, { ...m.podMonitoring }, inNamespace);
        }

        this.namespace = namespace.metadata.name;
        this.seeds = pulumi.output(seedEndpoints(podNaming(manifestOptions), args.redis));
        this.clientEndpoint = pulumi.all([client.metadata.name, this.namespace]).apply(([service, ns]) => serviceEndpoint(service, ns));
        this.registerOutputs({
            namespace: this.namespace,
            seeds: this.seeds,
            clientEndpoint: this.clientEndpoint,
            statefulSetName: this.statefulSet.metadata.name,
            podDisruptionBudgetName: pdb.metadata.name,
            networkPolicyName: networkPolicy.metadata.name,
        });
    }

    /** The ServiceAccount with exactly the formation's rights (formationRbac.ts), for a least-privilege kubeconfig. */
    private registerFormationRbac(
        name: string,
        rbac: FormationRbacManifests,
        inNamespace: pulumi.CustomResourceOptions,
        clusterWide: pulumi.CustomResourceOptions,
    ): void {
        const account = new k8s.core.v1.ServiceAccount(`${name}-formation-account`, rbac.serviceAccount, inNamespace);
        const role = new k8s.rbac.v1.Role(`${name}-formation-role`, rbac.role, inNamespace);
        new k8s.rbac.v1.RoleBinding(`${name}-formation-role-binding`, rbac.roleBinding, { ...inNamespace, dependsOn: [account, role] });
        const clusterRole = new k8s.rbac.v1.ClusterRole(`${name}-formation-cluster-role`, rbac.clusterRole, clusterWide);
        new k8s.rbac.v1.ClusterRoleBinding(`${name}-formation-cluster-role-binding`, rbac.clusterRoleBinding, {
            ...clusterWide,
            dependsOn: [account, clusterRole],
        });
    }
}

/** The resources a dependsOn option names (plain resources only; an Input of them is not expected here). */
function dependencies(dependsOn: pulumi.ComponentResourceOptions["dependsOn"]): pulumi.Resource[] {
    if (dependsOn === undefined) return [];
    if (Array.isArray(dependsOn)) return dependsOn.filter((d): d is pulumi.Resource => pulumi.Resource.isInstance(d));
    return pulumi.Resource.isInstance(dependsOn) ? [dependsOn] : [];
}
