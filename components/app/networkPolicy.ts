/**
 * The hit counter's NetworkPolicy, both directions: its HTTP port from anyone (it is the public
 * service), its metrics port only from the monitoring namespaces, and out of the pod only to the
 * Redis pods' client port and to DNS. A compromised app pod can then reach nothing else in the
 * cluster or beyond, and nothing but the Service's clients can reach it.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { NAMESPACE_NAME_LABEL } from "../redis/manifests";
import { CLIENT_PORT } from "../shape";

export type LabelMap = Record<string, string>;

export interface AppNetworkPolicyOptions {
    /** The app's base name; the policy is `<name>`. */
    readonly name: string;
    readonly namespace: pulumi.Input<string>;
    /** Labels of the app's pods. */
    readonly appPodLabels: LabelMap;
    /** Labels of the Redis pods it talks to. */
    readonly redisPodLabels: LabelMap;
    /** Namespaces whose pods may scrape the app's `metrics` port. */
    readonly metricsNamespaces: readonly string[];
}

/** The named container ports the policy admits: `http` serves hits, `metrics` serves Prometheus. */
export const APP_HTTP_PORT_NAME = "http";
export const APP_METRICS_PORT_NAME = "metrics";

export function renderAppNetworkPolicy(o: AppNetworkPolicyOptions): k8s.types.input.networking.v1.NetworkPolicy {
    const dns = [53].flatMap((port) => [
        { protocol: "UDP", port },
        { protocol: "TCP", port },
    ]);
    return {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { name: o.name, namespace: o.namespace, labels: o.appPodLabels },
        spec: {
            podSelector: { matchLabels: o.appPodLabels },
            policyTypes: ["Ingress", "Egress"],
            ingress: [
                // Load balancers and clients come from anywhere: only the serving port is open to them.
                { ports: [{ protocol: "TCP", port: APP_HTTP_PORT_NAME }] },
                {
                    from: o.metricsNamespaces.map((namespace) => ({
                        namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } },
                    })),
                    ports: [{ protocol: "TCP", port: APP_METRICS_PORT_NAME }],
                },
            ],
            egress: [
                { to: [{ podSelector: { matchLabels: o.redisPodLabels } }], ports: [{ protocol: "TCP", port: CLIENT_PORT }] },
                // The cluster DNS (kube-dns, or NodeLocal DNSCache on a link-local address): port 53 only.
                { ports: dns },
            ],
        },
    };
}
