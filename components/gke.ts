/**
 * GkeCluster: a regional (three-zone), VPC-native GKE cluster with its own node pool, a dedicated
 * least-privilege node service account, Workload Identity and Dataplane V2 (which enforces the Redis
 * NetworkPolicy), plus a kubeconfig and the Kubernetes provider built from it.
 *
 * Reachability: nodes are private (no public IPs, egress through Cloud NAT) unless `gke:privateNodes`
 * is false. The control plane's IP endpoint admits only `gke:authorizedNetworks` (none by default)
 * and Google's own services; Pulumi, the formation and kubectl reach the control plane through its
 * DNS-based endpoint, which checks IAM on every request and needs no network allowlist.
 */
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GkeSettings } from "./config";
import { recurringWindow } from "./maintenance";

/**
 * What the nodes' service account is granted: Google's role for GKE node service accounts (logs,
 * metrics, metadata; CIS GKE 2.0 5.2.1), nothing more. The Compute Engine default account is Editor.
 * Images here come from Docker Hub; mirror them to Artifact Registry and grant
 * roles/artifactregistry.reader on that repository, not on the project.
 */
export const NODE_ROLES = ["roles/container.defaultNodeServiceAccount"] as const;

/** OAuth scope of the nodes: IAM (NODE_ROLES) decides what they may do, so the scope is not narrowed. */
const NODE_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"];

/** Address ranges of the VPC-native cluster's subnet. */
export const SUBNET_RANGES = { nodes: "10.10.0.0/20", pods: "10.20.0.0/14", services: "10.30.0.0/20" } as const;

export interface KubeconfigParts {
    readonly clusterName: string;
    /** Host of the API server: the cluster's DNS-based endpoint. */
    readonly endpoint: string;
    /** Base64 CA of the cluster; absent for the DNS endpoint, whose certificate is publicly trusted. */
    readonly caCertificate?: string;
}

/**
 * A kubeconfig that authenticates through `gke-gcloud-auth-plugin` (the exec plugin GKE requires since
 * 1.26): it holds no token, so it never expires in the state file. Pure, so it is tested directly.
 */
export function renderGkeKubeconfig(p: KubeconfigParts): string {
    const context = p.clusterName;
    return [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        `- name: ${context}`,
        "  cluster:",
        ...(p.caCertificate ? [`    certificate-authority-data: ${p.caCertificate}`] : []),
        `    server: https://${p.endpoint}`,
        "contexts:",
        `- name: ${context}`,
        "  context:",
        `    cluster: ${context}`,
        `    user: ${context}`,
        `current-context: ${context}`,
        "users:",
        `- name: ${context}`,
        "  user:",
        "    exec:",
        "      apiVersion: client.authentication.k8s.io/v1beta1",
        "      command: gke-gcloud-auth-plugin",
        "      installHint: Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin)",
        "      provideClusterInfo: true",
        "      interactiveMode: Never",
        "",
    ].join("\n");
}

/**
 * A service-account id (6-30 of [a-z0-9-], starting with a letter) unique per stack: account ids are
 * project-wide, so two stacks in one project must not share one.
 */
export function nodeAccountId(stack: string): string {
    const id = `rc-${stack.toLowerCase().replace(/[^a-z0-9-]+/g, "-")}`.slice(0, 24).replace(/-+$/, "");
    return `${id}-nodes`;
}

export interface GkeClusterArgs {
    readonly gke: GkeSettings;
    /** Id of the node service account; see nodeAccountId. */
    readonly nodeAccountId: string;
}

/** The node settings shared by the cluster's short-lived default pool and the node pool. */
function nodeConfig(gke: GkeSettings, serviceAccount: pulumi.Input<string>): gcp.types.input.container.ClusterNodeConfig {
    return {
        machineType: gke.machineType,
        diskSizeGb: gke.diskSizeGb,
        serviceAccount,
        oauthScopes: NODE_SCOPES,
        workloadMetadataConfig: { mode: "GKE_METADATA" },
        shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
    };
}

/** Control-plane access as the policy pack wants it: IP endpoint for listed networks only, DNS endpoint for the rest. */
export function controlPlaneAccess(
    authorizedNetworks: readonly string[],
): Pick<gcp.container.ClusterArgs, "masterAuthorizedNetworksConfig" | "controlPlaneEndpointsConfig"> {
    return {
        masterAuthorizedNetworksConfig: {
            cidrBlocks: authorizedNetworks.map((cidrBlock) => ({ cidrBlock, displayName: `authorized ${cidrBlock}` })),
            // Not "every Google Cloud address": that is anyone with a VM.
            gcpPublicCidrsAccessEnabled: false,
        },
        controlPlaneEndpointsConfig: { dnsEndpointConfig: { allowExternalTraffic: true } },
    };
}

/**
 * The node pool's upgrade: surge (a new node up before an old one is drained), so every drained
 * Redis pod, a master only after its preStop handover, starts again at once on the new node.
 */
export function nodePoolUpgradeSettings(gke: GkeSettings): gcp.types.input.container.NodePoolUpgradeSettings {
    return { strategy: "SURGE", maxSurge: gke.upgrade.maxSurge, maxUnavailable: gke.upgrade.maxUnavailable };
}

/** The cluster's maintenancePolicy from `gke:maintenanceWindow` and `gke:maintenanceExclusions`; none without a window. */
export function maintenancePolicy(gke: GkeSettings): gcp.types.input.container.ClusterMaintenancePolicy | undefined {
    if (!gke.maintenanceWindow) return undefined;
    return {
        recurringWindow: recurringWindow(gke.maintenanceWindow),
        maintenanceExclusions: gke.maintenanceExclusions.map((e) => ({
            exclusionName: e.name,
            startTime: e.start,
            endTime: e.end,
            exclusionOptions: { scope: e.scope },
        })),
    };
}

export class GkeCluster extends pulumi.ComponentResource {
    /** Secret kubeconfig (exec credential via gke-gcloud-auth-plugin). */
    public readonly kubeconfig: pulumi.Output<string>;
    /** The provider every Kubernetes object of the stack uses. */
    public readonly provider: k8s.Provider;
    public readonly clusterName: pulumi.Output<string>;
    public readonly nodeServiceAccountEmail: pulumi.Output<string>;

    constructor(name: string, args: GkeClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("redis-cluster-gke:gke:GkeCluster", name, {}, opts);
        const { project, region } = args.gke;
        const parent = { parent: this };

        const nodeAccount = new gcp.serviceaccount.Account(
            `${name}-nodes`,
            {
                project,
                accountId: args.nodeAccountId,
                displayName: `GKE nodes of ${name}`,
            },
            parent,
        );
        const roleBindings = NODE_ROLES.map(
            (role) =>
                new gcp.projects.IAMMember(
                    `${name}-nodes-${role.split("/")[1]}`,
                    {
                        project,
                        role,
                        member: pulumi.interpolate`serviceAccount:${nodeAccount.email}`,
                    },
                    parent,
                ),
        );

        const network = new gcp.compute.Network(`${name}-network`, { project, autoCreateSubnetworks: false }, parent);
        if (args.gke.privateNodes) {
            // Private nodes have no route to the internet of their own; Docker Hub pulls go through NAT.
            const router = new gcp.compute.Router(`${name}-router`, { project, region, network: network.id }, parent);
            new gcp.compute.RouterNat(
                `${name}-nat`,
                {
                    project,
                    region,
                    router: router.name,
                    natIpAllocateOption: "AUTO_ONLY",
                    sourceSubnetworkIpRangesToNat: "ALL_SUBNETWORKS_ALL_IP_RANGES",
                    logConfig: { enable: true, filter: "ERRORS_ONLY" },
                },
                parent,
            );
        }
        const subnet = new gcp.compute.Subnetwork(
            `${name}-subnet`,
            {
                project,
                region,
                network: network.id,
                ipCidrRange: SUBNET_RANGES.nodes,
                privateIpGoogleAccess: true,
                secondaryIpRanges: [
                    { rangeName: "pods", ipCidrRange: SUBNET_RANGES.pods },
                    { rangeName: "services", ipCidrRange: SUBNET_RANGES.services },
                ],
            },
            parent,
        );

        const cluster = new gcp.container.Cluster(
            `${name}-cluster`,
            {
                project,
                location: region, // a region: the control plane and nodes span its zones
                network: network.id,
                subnetwork: subnet.id,
                networkingMode: "VPC_NATIVE",
                ipAllocationPolicy: { clusterSecondaryRangeName: "pods", servicesSecondaryRangeName: "services" },
                // Dataplane V2 enforces NetworkPolicy objects (the Redis one would be ignored otherwise).
                datapathProvider: "ADVANCED_DATAPATH",
                removeDefaultNodePool: true,
                initialNodeCount: 1,
                releaseChannel: { channel: args.gke.releaseChannel },
                workloadIdentityConfig: { workloadPool: `${project}.svc.id.goog` },
                // On by default: deleting the cluster deletes the nodes the Redis pods run on. The Redis
                // namespace and its PVCs are kept by the stack (retainOnDestroy), but that cannot keep
                // the cluster itself; see README "What `pulumi destroy` keeps".
                deletionProtection: args.gke.deletionProtection,
                // GKE creates a first node pool before the stack's own, even when it removes it right
                // after: it must run as the dedicated account too (projects that disabled the Compute
                // Engine default account cannot create the cluster otherwise), and privately.
                nodeConfig: nodeConfig(args.gke, nodeAccount.email),
                privateClusterConfig: { enablePrivateNodes: args.gke.privateNodes },
                ...controlPlaneAccess(args.gke.authorizedNetworks),
                // GKE Managed Prometheus: the collectors (gmp-system) and the PodMonitoring CRD.
                monitoringConfig: { managedPrometheus: { enabled: true } },
                // When GKE may upgrade the control plane and drain nodes (gke:maintenanceWindow, …).
                maintenancePolicy: maintenancePolicy(args.gke),
            },
            {
                parent: this,
                dependsOn: roleBindings,
                // Both only shape the short-lived default pool: after creation a change to either would
                // replace the whole cluster (the node pool below carries the live settings).
                ignoreChanges: ["nodeConfig", "privateClusterConfig"],
            },
        );

        const nodePool = new gcp.container.NodePool(
            `${name}-nodes`,
            {
                project,
                location: region,
                cluster: cluster.name,
                nodeCount: args.gke.nodesPerZone, // per zone of the region
                management: { autoRepair: true, autoUpgrade: true },
                upgradeSettings: nodePoolUpgradeSettings(args.gke),
                nodeConfig: nodeConfig(args.gke, nodeAccount.email),
                // Changeable in place on the pool (unlike the cluster's privateClusterConfig).
                networkConfig: { enablePrivateNodes: args.gke.privateNodes },
            },
            { parent: this, dependsOn: roleBindings },
        );

        this.clusterName = cluster.name;
        this.nodeServiceAccountEmail = nodeAccount.email;
        // The stack's kubeconfig (gke:kubeconfigEndpoint). By default the DNS endpoint: reachable from
        // anywhere (Pulumi Deployments runners have no fixed IPs), every request checked by IAM, and
        // served with a publicly trusted certificate.
        this.kubeconfig = pulumi.secret(
            pulumi
                .all([cluster.name, cluster.controlPlaneEndpointsConfig, cluster.endpoint, cluster.masterAuth])
                .apply(([clusterName, endpoints, ipEndpoint, auth]) => {
                    if (args.gke.kubeconfigEndpoint === "ip") {
                        return renderGkeKubeconfig({ clusterName, endpoint: ipEndpoint, caCertificate: auth.clusterCaCertificate ?? "" });
                    }
                    const endpoint = endpoints?.dnsEndpointConfig?.endpoint;
                    if (!endpoint) {
                        throw new Error(
                            `GKE cluster ${clusterName} reports no DNS endpoint (controlPlaneEndpointsConfig.dnsEndpointConfig)`,
                        );
                    }
                    return renderGkeKubeconfig({ clusterName, endpoint });
                }),
        );
        // Workloads wait for the node pool: without nodes every pod would sit Pending. The cluster's
        // id tells the provider which cluster it talks to: a new endpoint or certificate in the
        // kubeconfig is then an update, where it would otherwise replace every Kubernetes object.
        this.provider = new k8s.Provider(
            `${name}-k8s`,
            { kubeconfig: this.kubeconfig, clusterIdentifier: cluster.id },
            { parent: this, dependsOn: [nodePool] },
        );
        this.registerOutputs({
            kubeconfig: this.kubeconfig,
            clusterName: this.clusterName,
            nodeServiceAccountEmail: this.nodeServiceAccountEmail,
        });
    }
}
