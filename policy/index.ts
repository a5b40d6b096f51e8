/**
 * The redis-cluster-gke policy pack. Constructing a PolicyPack starts the analyzer's
 * gRPC server, so this file only wires the tested policies (policies.ts) into one;
 * tests never import it.
 *
 *   pulumi preview --policy-pack policy
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("redis-cluster-gke", {
    description: "Production guard rails for a Redis Cluster on GKE (or any Kubernetes) formed by redis-cluster-gke.",
    enforcementLevel: "mandatory",
    policies: [...policies],
});
