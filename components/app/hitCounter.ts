/**
 * HitCounterApp: the hit-counter service (app/server.ts) as a Deployment, a Service and a
 * PodDisruptionBudget. By default it runs the pinned official Node.js image with the bundled server
 * mounted from a ConfigMap, so nobody builds or pushes an image; `app:image` swaps in a ready-made
 * image instead.
 */
import * as crypto from "crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_METRICS_PORT } from "../../app/config";
import { AppSettings } from "../config";
import { APP_HTTP_PORT_NAME } from "./networkPolicy";
import { PASSWORD_KEY } from "../redis/manifests";
import { CA_MOUNT, USER_SECRET_MOUNT } from "../redis/paths";
import { APP_USER } from "../redis/acl";
import { TLS_FILES } from "../redis/tls";
import { mapInput } from "../input";

export { mapInput };

export const APP_PORT = 8080;
/** /metrics, /healthz and /readyz with reasons: a container port that the Service does not expose. */
export const APP_METRICS_PORT = DEFAULT_METRICS_PORT;
export const APP_CONTAINER = "app";
/**
 * The server's default limits (app/config.ts SERVER_LIMITS) are sized for this: slow clients at the
 * connection cap and a full hit queue behind a stalled Redis stay well under it (bench:app-limits).
 */
export const APP_MEMORY_LIMIT = "256Mi";
const NODE_UID = 1000; // the `node` user of the official image

export interface HitCounterManifestOptions {
    /** Base name of the Deployment, Service and ConfigMap. */
    readonly name: string;
    readonly namespace: pulumi.Input<string>;
    readonly app: AppSettings;
    /** `host:port` seeds of the Redis Cluster (REDIS_NODES). */
    readonly redisSeeds: pulumi.Input<string[]>;
    /** The app user's own Secret (`username`, `password`), mounted at USER_SECRET_MOUNT. */
    readonly userSecretName: pulumi.Input<string>;
    /** A digest of the app user's password: a rotated password rolls the app (the rotation's phase 2). */
    readonly passwordDigest?: pulumi.Input<string>;
    /** Bundled server (one CommonJS file); unused when `app.image` is set. */
    readonly serverSource: pulumi.Input<string>;
    /** Redis replicas per master: a hit is acknowledged once one of them holds it (none: no WAIT). */
    readonly replicasPerMaster: number;
    /** With TLS: the ConfigMap holding the CA the app verifies Redis with, and the CA's digest (a new CA rolls the app). */
    readonly redisTls?: { readonly caConfigMapName: pulumi.Input<string>; readonly caDigest: pulumi.Input<string> };
}

/** WAIT_REPLICAS for the server: one replica when the cluster has replicas, else every hit would be refused. */
export function waitReplicasFor(replicasPerMaster: number): number {
    return Math.min(1, replicasPerMaster);
}

/** Seconds a terminating pod keeps serving so endpoints controllers and load balancers stop sending to it first. */
const PRE_STOP_PAUSE_SECONDS = 5;

/** Labels of the app pods: the Redis NetworkPolicy admits exactly these as clients. */
export function hitCounterPodLabels(name: string): Record<string, string> {
    return { "app.kubernetes.io/name": "hit-counter", "app.kubernetes.io/instance": name };
}

export function serverConfigMapName(name: string): string {
    return `${name}-server`;
}

/** Whether the bundled server runs (true unless a ready-made image is configured). */
export function runsBundledServer(app: AppSettings): boolean {
    return app.image === undefined;
}

export function renderServerConfigMap(o: HitCounterManifestOptions): k8s.types.input.core.v1.ConfigMap {
    return {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: serverConfigMapName(o.name), namespace: o.namespace, labels: hitCounterPodLabels(o.name) },
        data: { "server.js": o.serverSource },
    };
}

function httpProbe(path: string, port: string, periodSeconds: number): k8s.types.input.core.v1.Probe {
    return { httpGet: { path, port }, periodSeconds, timeoutSeconds: 3, failureThreshold: 3 };
}

/**
 * The app's Deployment: rolls with a surge pod and never below its replicas, spread over k8s nodes, and
 * rolls again when the bundle, the CA or the app user's password changes.
 */
export function renderDeployment(o: HitCounterManifestOptions): k8s.types.input.apps.v1.Deployment {
    const labels = hitCounterPodLabels(o.name);
    const bundled = runsBundledServer(o.app);
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: o.name, namespace: o.namespace, labels },
        spec: {
            replicas: o.app.replicas,
            selector: { matchLabels: labels },
            strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
            template: {
                metadata: {
                    labels,
                    annotations: {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": String(APP_METRICS_PORT),
                        "prometheus.io/path": "/metrics",
                        // A new bundle rolls the pods (the ConfigMap name stays the same).
                        ...(bundled ? { "redis-cluster-gke/server-sha256": mapInput(o.serverSource, sha256) } : {}),
                        ...(o.redisTls ? { "redis-cluster-gke/ca-sha256": o.redisTls.caDigest } : {}),
                        ...(o.passwordDigest !== undefined ? { "redis-cluster-gke/password-sha256": o.passwordDigest } : {}),
                    },
                },
                spec: {
                    securityContext: {
                        runAsNonRoot: true,
                        runAsUser: NODE_UID,
                        runAsGroup: NODE_UID,
                        seccompProfile: { type: "RuntimeDefault" },
                    },
                    enableServiceLinks: false,
                    // The server never calls the Kubernetes API: no token for an attacker to use.
                    automountServiceAccountToken: false,
                    // preStop pause + the server's own drain (in-flight hits finish on SIGTERM).
                    terminationGracePeriodSeconds: PRE_STOP_PAUSE_SECONDS + 15,
                    topologySpreadConstraints: [
                        {
                            topologyKey: "kubernetes.io/hostname",
                            maxSkew: 1,
                            whenUnsatisfiable: "ScheduleAnyway",
                            labelSelector: { matchLabels: labels },
                        },
                    ],
                    containers: [appContainer(o)],
                    volumes: appVolumes(o),
                },
            },
        },
    };
}

/** The server's environment (app/config.ts reads it): where Redis is, how to log in, and which ports to serve. */
function serverEnvironment(o: HitCounterManifestOptions): k8s.types.input.core.v1.EnvVar[] {
    return [
        { name: "REDIS_NODES", value: mapInput(o.redisSeeds, (seeds) => seeds.join(",")) },
        { name: "REDIS_USERNAME", value: APP_USER },
        // A file, not env: the server re-reads it when the kubelet updates the Secret (app/credentials.ts).
        { name: "REDIS_PASSWORD_FILE", value: `${USER_SECRET_MOUNT}/${PASSWORD_KEY}` },
        { name: "REDIS_TLS", value: String(o.redisTls !== undefined) },
        ...(o.redisTls ? [{ name: "REDIS_CA_FILE", value: `${CA_MOUNT}/${TLS_FILES.ca}` }] : []),
        { name: "PORT", value: String(APP_PORT) },
        { name: "METRICS_PORT", value: String(APP_METRICS_PORT) },
        { name: "HOST", value: "0.0.0.0" },
        { name: "WAIT_REPLICAS", value: String(waitReplicasFor(o.replicasPerMaster)) },
    ];
}

/** The server's container; it mounts the volumes of appVolumes by their names. */
function appContainer(o: HitCounterManifestOptions): k8s.types.input.core.v1.Container {
    const bundled = runsBundledServer(o.app);
    return {
        name: APP_CONTAINER,
        image: o.app.image ?? o.app.nodeImage,
        ...(bundled ? { command: ["node", "/app/server.js"] } : {}),
        ports: [
            { name: "http", containerPort: APP_PORT },
            { name: "metrics", containerPort: APP_METRICS_PORT },
        ],
        env: serverEnvironment(o),
        resources: {
            requests: { cpu: "50m", memory: "64Mi" },
            limits: { cpu: "500m", memory: APP_MEMORY_LIMIT },
        },
        lifecycle: { preStop: { exec: { command: ["sleep", String(PRE_STOP_PAUSE_SECONDS)] } } },
        // Liveness on the operators' port: clients filling the public port's connection cap
        // must not get the pod restarted (and every in-flight hit cut).
        livenessProbe: httpProbe("/healthz", "metrics", 10),
        // Readiness on the public port: a pod whose public listener is full or whose cluster
        // is down leaves the Service's endpoints.
        readinessProbe: httpProbe("/readyz", "http", 5),
        securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
        },
        volumeMounts: [
            ...(bundled ? [{ name: "server", mountPath: "/app", readOnly: true }] : []),
            { name: "redis-user", mountPath: USER_SECRET_MOUNT, readOnly: true },
            ...(o.redisTls ? [{ name: "redis-ca", mountPath: CA_MOUNT, readOnly: true }] : []),
        ],
    };
}

/** The pod's volumes, named as appContainer mounts them: the bundled server, the app user's password and, with TLS, the CA. */
function appVolumes(o: HitCounterManifestOptions): k8s.types.input.core.v1.Volume[] {
    return [
        ...(runsBundledServer(o.app) ? [{ name: "server", configMap: { name: serverConfigMapName(o.name) } }] : []),
        {
            name: "redis-user",
            secret: { secretName: o.userSecretName, items: [{ key: PASSWORD_KEY, path: PASSWORD_KEY }] },
        },
        ...(o.redisTls ? [{ name: "redis-ca", configMap: { name: o.redisTls.caConfigMapName } }] : []),
    ];
}

/** The public port only: metrics, health and readiness reasons stay inside the cluster. */
export function renderAppService(o: HitCounterManifestOptions): k8s.types.input.core.v1.Service {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: o.name, namespace: o.namespace, labels: hitCounterPodLabels(o.name) },
        spec: {
            type: o.app.serviceType,
            selector: hitCounterPodLabels(o.name),
            ports: [{ name: APP_HTTP_PORT_NAME, port: 80, targetPort: APP_HTTP_PORT_NAME }],
        },
    };
}

/**
 * One app pod at a time may be evicted (node drains, upgrades): the others keep serving. maxUnavailable
 * rather than minAvailable, so that a single replica never blocks a drain.
 */
export function renderAppPodDisruptionBudget(o: HitCounterManifestOptions): k8s.types.input.policy.v1.PodDisruptionBudget {
    return {
        apiVersion: "policy/v1",
        kind: "PodDisruptionBudget",
        metadata: { name: o.name, namespace: o.namespace, labels: hitCounterPodLabels(o.name) },
        spec: { maxUnavailable: 1, selector: { matchLabels: hitCounterPodLabels(o.name) } },
    };
}

function sha256(text: string): string {
    return crypto.createHash("sha256").update(text).digest("hex");
}

export interface HitCounterAppArgs extends Omit<HitCounterManifestOptions, "name"> {
    /** The provider of the target cluster. */
    readonly provider: k8s.Provider;
}

export class HitCounterApp extends pulumi.ComponentResource {
    /** `http://<address>` of the Service: the load balancer's IP/hostname, or the in-cluster name. */
    public readonly url: pulumi.Output<string>;
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly service: k8s.core.v1.Service;
    public readonly podDisruptionBudget: k8s.policy.v1.PodDisruptionBudget;

    constructor(name: string, args: HitCounterAppArgs, opts?: pulumi.ComponentResourceOptions) {
        super("redis-cluster-gke:app:HitCounterApp", name, {}, opts);
        const k8sOpts: pulumi.CustomResourceOptions = { parent: this, provider: args.provider };
        const manifestOptions: HitCounterManifestOptions = { ...args, name };
        const serverConfig = runsBundledServer(args.app)
            ? [new k8s.core.v1.ConfigMap(`${name}-server`, renderServerConfigMap(manifestOptions), k8sOpts)]
            : [];
        this.deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, renderDeployment(manifestOptions), {
            ...k8sOpts,
            dependsOn: serverConfig,
        });
        this.service = new k8s.core.v1.Service(`${name}-service`, renderAppService(manifestOptions), k8sOpts);
        this.podDisruptionBudget = new k8s.policy.v1.PodDisruptionBudget(
            `${name}-pdb`,
            renderAppPodDisruptionBudget(manifestOptions),
            k8sOpts,
        );

        const inCluster = pulumi.interpolate`http://${this.service.metadata.name}.${this.service.metadata.namespace}.svc`;
        this.url =
            args.app.serviceType === "LoadBalancer"
                ? pulumi.all([this.service.status, inCluster]).apply(([status, fallback]) => {
                      const ingress = status?.loadBalancer?.ingress?.[0];
                      const address = ingress?.ip || ingress?.hostname;
                      return address ? `http://${address}` : fallback;
                  })
                : inCluster;
        this.registerOutputs({ url: this.url, deploymentName: this.deployment.metadata.name, serviceName: this.service.metadata.name });
    }
}
