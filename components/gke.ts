/**
 * GkeCluster: a regional (three-zone), VPC-native GKE cluster with its own node pool, a dedicated
 * least-privilege node service account, Workload Identity and Dataplane V2 (which enforces the Redis
 * NetworkPolicy), plus a kubeconfig and the Kubernetes provider built from it.
 */
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GkeSettings } from "./config";

/** Roles GKE nodes need to write logs and metrics; nothing more (the default compute SA is Editor). */
export const NODE_ROLES = [
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
] as const;

/** Address ranges of the VPC-native cluster's subnet. */
export const SUBNET_RANGES = { nodes: "10.10.0.0/20", pods: "10.20.0.0/14", services: "10.30.0.0/20" } as const;

export interface KubeconfigParts {
    readonly clusterName: string;
    readonly endpoint: string;
    readonly caCertificate: string;
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
        `    certificate-authority-data: ${p.caCertificate}`,
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
                // `pulumi destroy` must be able to remove what `pulumi up` created; the Redis PVCs are retained anyway.
                deletionProtection: false,
            },
            parent,
        );

        const nodePool = new gcp.container.NodePool(
            `${name}-nodes`,
            {
                project,
                location: region,
                cluster: cluster.name,
                nodeCount: args.gke.nodesPerZone, // per zone of the region
                management: { autoRepair: true, autoUpgrade: true },
                nodeConfig: {
                    machineType: args.gke.machineType,
                    diskSizeGb: args.gke.diskSizeGb,
                    serviceAccount: nodeAccount.email,
                    oauthScopes: ["https://www.googleapis.com/auth/cloud-platform"],
                    workloadMetadataConfig: { mode: "GKE_METADATA" },
                    shieldedInstanceConfig: { enableSecureBoot: true, enableIntegrityMonitoring: true },
                },
            },
            { parent: this, dependsOn: roleBindings },
        );

        this.clusterName = cluster.name;
        this.nodeServiceAccountEmail = nodeAccount.email;
        this.kubeconfig = pulumi.secret(
            pulumi
                .all([cluster.name, cluster.endpoint, cluster.masterAuth])
                .apply(([clusterName, endpoint, auth]) =>
                    renderGkeKubeconfig({ clusterName, endpoint, caCertificate: auth.clusterCaCertificate ?? "" }),
                ),
        );
        // Workloads wait for the node pool: without nodes every pod would sit Pending.
        this.provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: this.kubeconfig }, { parent: this, dependsOn: [nodePool] });
        this.registerOutputs({
            kubeconfig: this.kubeconfig,
            clusterName: this.clusterName,
            nodeServiceAccountEmail: this.nodeServiceAccountEmail,
        });
    }
}
