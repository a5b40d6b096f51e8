/**
 * The whole stack as one function of validated Settings: target cluster -> Redis Cluster objects ->
 * formation (slots, replicas) -> app.
 * index.ts calls it with the live config; the mocks tests call it with test config, so what is tested
 * is exactly what `pulumi up` runs.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Settings } from "./config";
import { GkeCluster, nodeAccountId } from "./gke";
import { ExistingCluster } from "./kubernetes";
import { RedisCluster, userPasswords } from "./redis/redisCluster";
import { HitCounterApp, hitCounterPodLabels } from "./app/hitCounter";
import { renderAppNetworkPolicy } from "./app/networkPolicy";
import { RedisClusterFormation, ShardOutput } from "./formation/provider";
import { RedisScaleInDrain } from "./formation/drain";
import { tlsDigest } from "./redis/tls";
import { ADMIN_USER, APP_USER, CLIENT_USER, passwordHash } from "./redis/acl";
import { PASSWORD_KEY, REDIS_CONTAINER, USERNAME_KEY, redisObjectNames, redisPodLabels } from "./redis/manifests";
import { RedisAclRotation, RotationPhase } from "./formation/aclProvider";
import { APP_HTTP_PORT_NAME } from "./app/networkPolicy";
import { postDeployCheck } from "./postDeployCheckCommand";

/** Base names of the Kubernetes objects (the namespace keeps stacks on one cluster apart). */
export const REDIS_NAME = "redis";
export const APP_NAME = "hit-counter";

export interface StackInputs {
    /** Stack name: keeps project-wide cloud names (the node service account) apart. */
    readonly stack: string;
    /** Bundled hit-counter server (components/app/bundle.ts); unused when `app:image` is set. */
    readonly appServerSource: pulumi.Input<string>;
}

/** The stack outputs (index.ts exports each of them). */
export interface StackOutputs {
    /** Kubeconfig of the target cluster (secret). */
    readonly kubeconfig: pulumi.Output<string>;
    readonly namespace: pulumi.Output<string>;
    /** Stable `host:port` DNS names of every Redis pod. */
    readonly redisSeeds: pulumi.Output<string[]>;
    /** Each master with its slot ranges and replicas (pod, k8s node, zone). */
    readonly redisShards: pulumi.Output<ShardOutput[]>;
    /** False when a replica shares a k8s node (or zone) with its master; see redisPlacementWarnings. */
    readonly redisPlacementOk: pulumi.Output<boolean>;
    readonly redisPlacementWarnings: pulumi.Output<string[]>;
    /** Name of the ClusterIP client Service. */
    readonly redisClientService: string;
    /** `<service>.<namespace>.svc.cluster.local:6379`. */
    readonly redisClientEndpoint: pulumi.Output<string>;
    readonly appUrl: pulumi.Output<string>;
    /** The admin user's password (secret): operators connect with `--user admin`. */
    readonly redisAdminPassword: pulumi.Output<string>;
    /** What another application needs to connect (README, Client access). */
    readonly redisClientAccess: pulumi.Output<ClientAccess>;
    /** With TLS: the CA certificate (PEM) clients verify Redis with. */
    readonly redisCaCertificate?: pulumi.Output<string>;
    /** With TLS: when the server certificate expires; `pulumi up` renews it in its last 90 days. */
    readonly redisTlsNotAfter?: pulumi.Output<string>;
}

/** What an application admitted by `redis:allowedClients` needs to connect, as a stack output. */
export interface ClientAccess {
    /** `<client Service>.<namespace>.svc.cluster.local:6379`: a seed that resolves from any namespace. */
    readonly endpoint: string;
    readonly tls: boolean;
    /** Its ACL user, and the Secret (in the Redis namespace) that holds the user's name and password. */
    readonly username: string;
    readonly secret: { readonly namespace: string; readonly name: string; readonly usernameKey: string; readonly passwordKey: string };
    /** With TLS: the CA certificate (PEM) and the ConfigMap that holds it. */
    readonly caCertificate?: string;
    readonly caConfigMap?: string;
}

function clientAccess(redis: RedisCluster, settings: Settings): pulumi.Output<ClientAccess> {
    const secret = redis.userSecrets[CLIENT_USER];
    if (!secret) throw new Error(`the ${CLIENT_USER} user's Secret is missing`);
    return pulumi
        .all([redis.clientEndpoint, redis.namespace, secret.metadata.name, redis.tls?.caPem, redis.tls?.caConfigMapName])
        .apply(([endpoint, namespace, name, ca, caConfigMap]) => ({
            endpoint,
            tls: settings.redis.tls,
            username: CLIENT_USER,
            secret: { namespace, name, usernameKey: USERNAME_KEY, passwordKey: PASSWORD_KEY },
            ...(ca !== undefined ? { caCertificate: ca, caConfigMap } : {}),
        }));
}

/** The Kubernetes cluster to deploy into, and its provider. */
function targetCluster(settings: Settings, stack: string): { kubeconfig: pulumi.Output<string>; provider: k8s.Provider } {
    if (settings.target === "existing") {
        return new ExistingCluster("existing", { kubeconfig: settings.kubeconfig });
    }
    return new GkeCluster("gke", { gke: settings.gke, nodeAccountId: nodeAccountId(stack) });
}

export function composeStack(settings: Settings, inputs: StackInputs): StackOutputs {
    const { kubeconfig, provider } = targetCluster(settings, inputs.stack);
    const drain = scaleInDrain(settings, kubeconfig);

    // A password rotation, around the users Secret and the app's rollout (components/redis/acl.ts): the
    // new passwords next to the old on every node while the pods' copies still hold the old admin
    // password; then the Secret changes and the app rolls onto its new password; then, once every pod's
    // copy is new, only the new passwords are left.
    const passwords = userPasswords(REDIS_NAME, settings.redis);
    const aclStep = (phase: RotationPhase, dependsOn: pulumi.Input<pulumi.Resource>[]) =>
        new RedisAclRotation(
            `${REDIS_NAME}-acl-${phase}`,
            {
                kubeconfig,
                namespace: settings.namespace,
                statefulSetName: redisObjectNames(REDIS_NAME).statefulSet,
                containerName: REDIS_CONTAINER,
                phase,
                passwords,
            },
            { dependsOn },
        );
    const aclAdd = aclStep("add", [drain]);

    const redis = new RedisCluster(
        REDIS_NAME,
        {
            passwords,
            usersSecretAfter: [aclAdd],
            namespace: settings.namespace,
            redis: settings.redis,
            provider,
            clientPodLabels: hitCounterPodLabels(APP_NAME),
            retainOnDestroy: settings.retainOnDestroy,
            createRetainStorageClass: settings.createRetainStorageClass,
        },
        { dependsOn: [drain] },
    );
    const formation = formRedis(settings, kubeconfig, redis);
    const app = hitCounter(settings, inputs, redis, formation, provider);
    aclStep("prune", [app]);
    if (settings.postDeployCheck) checkDeployment(settings, inputs, kubeconfig, redis, formation, app);

    return {
        kubeconfig,
        namespace: redis.namespace,
        redisSeeds: formation.seeds,
        redisShards: formation.shards,
        redisPlacementOk: formation.placementOk,
        redisPlacementWarnings: formation.placementWarnings,
        redisClientService: redis.names.clientService,
        redisClientEndpoint: redis.clientEndpoint,
        appUrl: app.url,
        redisAdminPassword: redis.passwords[ADMIN_USER],
        redisClientAccess: clientAccess(redis, settings),
        redisCaCertificate: redis.tls?.caPem,
        redisTlsNotAfter: redis.tls?.notAfter,
    };
}

/**
 * A smaller shape makes the StatefulSet delete its highest pods, which may hold masters, slots and a
 * shard's only replica: every Redis object (the StatefulSet among them) waits for this drain, whose
 * update empties those pods first. The formation runs after the StatefulSet and forgets them.
 */
function scaleInDrain(settings: Settings, kubeconfig: pulumi.Output<string>): RedisScaleInDrain {
    return new RedisScaleInDrain(
        `${REDIS_NAME}-scale-in-drain`,
        {
            kubeconfig,
            namespace: settings.namespace,
            statefulSetName: redisObjectNames(REDIS_NAME).statefulSet,
            containerName: REDIS_CONTAINER,
            masters: settings.redis.masters,
            replicasPerMaster: settings.redis.replicasPerMaster,
            surgeReplica: settings.redis.surgeReplica,
        },
        // It was the scale guard, which only refused scale-in: same place in the graph, same state.
        { aliases: [{ name: `${REDIS_NAME}-scale-guard`, type: "pulumi-nodejs:dynamic/redis-cluster-gke:RedisScaleGuard" }] },
    );
}

/**
 * Forms the cluster once the StatefulSet's pods are Ready (Pulumi waits for the rollout) and their DNS
 * names exist, and scales it out when `redis:masters` grows.
 */
function formRedis(settings: Settings, kubeconfig: pulumi.Output<string>, redis: RedisCluster): RedisClusterFormation {
    return new RedisClusterFormation(
        `${REDIS_NAME}-formation`,
        {
            kubeconfig,
            namespace: redis.namespace,
            statefulSetName: redis.statefulSet.metadata.name,
            containerName: redis.redisContainerName,
            headlessServiceName: redis.names.headlessService,
            masters: settings.redis.masters,
            replicasPerMaster: settings.redis.replicasPerMaster,
            surgeReplica: settings.redis.surgeReplica,
        },
        { dependsOn: [redis.statefulSet, redis.headlessService] },
    );
}

/** The app, started against a formed cluster (its seeds come from the formation), and its NetworkPolicy. */
function hitCounter(
    settings: Settings,
    inputs: StackInputs,
    redis: RedisCluster,
    formation: RedisClusterFormation,
    provider: k8s.Provider,
): HitCounterApp {
    const appSecret = redis.userSecrets[APP_USER];
    if (!appSecret) throw new Error(`the ${APP_USER} user's Secret is missing`);
    const app = new HitCounterApp(
        APP_NAME,
        {
            namespace: redis.namespace,
            app: settings.app,
            redisSeeds: formation.seeds,
            userSecretName: appSecret.metadata.name,
            passwordDigest: redis.passwords[APP_USER].apply((p) => passwordHash(`${APP_USER}:${p}`)),
            serverSource: inputs.appServerSource,
            replicasPerMaster: settings.redis.replicasPerMaster,
            redisTls: redis.tls && {
                caConfigMapName: redis.tls.caConfigMapName,
                caDigest: redis.tls.caPem.apply((pem) => tlsDigest(pem)),
            },
            provider,
        },
        { dependsOn: [formation] },
    );
    new k8s.networking.v1.NetworkPolicy(
        `${APP_NAME}-network-policy`,
        renderAppNetworkPolicy({
            name: APP_NAME,
            namespace: redis.namespace,
            appPodLabels: hitCounterPodLabels(APP_NAME),
            redisPodLabels: redisPodLabels(REDIS_NAME),
            metricsNamespaces: settings.redis.metricsNamespaces,
        }),
        { parent: app, provider },
    );
    return app;
}

/** Checks what was deployed, from the machine running Pulumi, once the formation and the app are up. */
function checkDeployment(
    settings: Settings,
    inputs: StackInputs,
    kubeconfig: pulumi.Output<string>,
    redis: RedisCluster,
    formation: RedisClusterFormation,
    app: HitCounterApp,
): void {
    postDeployCheck(
        "post-deploy-check",
        {
            kubeconfig,
            namespace: redis.namespace,
            redisPod: pulumi.interpolate`${redis.statefulSet.metadata.name}-0`,
            redisContainer: REDIS_CONTAINER,
            masters: settings.redis.masters,
            replicasPerMaster: settings.redis.replicasPerMaster,
            redisImage: settings.redis.image,
            app: settings.app,
            appService: app.service.metadata.name,
            appPort: APP_HTTP_PORT_NAME,
            appServerSource: inputs.appServerSource,
        },
        { dependsOn: [formation, app] },
    );
}
