/**
 * ExistingCluster: target `existing` — any conformant Kubernetes cluster (Rancher, EKS, AKS, kind, ...)
 * reached through a kubeconfig from secret stack config.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface ExistingClusterArgs {
    /** Kubeconfig (YAML or JSON) of the cluster; treated as a secret. */
    readonly kubeconfig: pulumi.Input<string>;
}

export class ExistingCluster extends pulumi.ComponentResource {
    public readonly kubeconfig: pulumi.Output<string>;
    /** The provider every Kubernetes object of the stack uses. */
    public readonly provider: k8s.Provider;

    constructor(name: string, args: ExistingClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("redis-cluster-gke:kubernetes:ExistingCluster", name, {}, opts);
        this.kubeconfig = pulumi.secret(args.kubeconfig);
        this.provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: this.kubeconfig }, { parent: this });
        this.registerOutputs({ kubeconfig: this.kubeconfig });
    }
}
