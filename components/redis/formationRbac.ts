/**
 * What the formation may do in the Kubernetes API, and nothing more: the Role (in the Redis
 * namespace), the ClusterRole (nodes are cluster-scoped) and the ServiceAccount bound to both.
 * These rules are the one source: the stack creates them, `npm run render` writes them, and the
 * stand-in API server of the tests enforces exactly them while the formation runs against it.
 *
 * The formation (components/formation/kubernetesTransport.ts):
 *  - lists the pods of its namespace (IPs, nodes, readiness);
 *  - lists the nodes, for their zones (without it, placement falls back to node names);
 *  - execs redis-cli in the Redis pods. An exec is a WebSocket upgrade of a GET: API servers
 *    before 1.35 authorize it as `get` on pods/exec, 1.35 and later also as `create`
 *    (AuthorizePodWebsocketUpgradeCreatePermission), so both verbs are granted.
 * It never reads Secrets: the password stays in the pods' environment.
 */
import * as k8s from "@pulumi/kubernetes";
import type { LabelSelectorMatch } from "./manifests";

export type PolicyRule = k8s.types.input.rbac.v1.PolicyRule;
export type RoleManifest = k8s.types.input.rbac.v1.Role;
export type ClusterRoleManifest = k8s.types.input.rbac.v1.ClusterRole;
export type RoleBindingManifest = k8s.types.input.rbac.v1.RoleBinding;
export type ClusterRoleBindingManifest = k8s.types.input.rbac.v1.ClusterRoleBinding;
export type ServiceAccountManifest = k8s.types.input.core.v1.ServiceAccount;

/** Rules of the namespaced Role. */
export const FORMATION_ROLE_RULES: readonly PolicyRule[] = [
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list"] },
    { apiGroups: [""], resources: ["pods/exec"], verbs: ["get", "create"] },
];

/** Rules of the ClusterRole: nodes and their zone labels. */
export const FORMATION_CLUSTER_ROLE_RULES: readonly PolicyRule[] = [{ apiGroups: [""], resources: ["nodes"], verbs: ["get", "list"] }];

export interface FormationRbacOptions {
    /** Base name of the Redis objects (`redis`). */
    readonly name: string;
    readonly namespace: string;
    readonly labels: LabelSelectorMatch;
}

/** Names of the formation's RBAC objects; the ClusterRole's carries the namespace (it is cluster-wide). */
export function formationRbacNames(o: Pick<FormationRbacOptions, "name" | "namespace">): {
    serviceAccount: string;
    role: string;
    clusterRole: string;
} {
    return {
        serviceAccount: `${o.name}-formation`,
        role: `${o.name}-formation`,
        clusterRole: `${o.namespace}-${o.name}-formation-nodes`,
    };
}

export interface FormationRbacManifests {
    readonly serviceAccount: ServiceAccountManifest;
    readonly role: RoleManifest;
    readonly roleBinding: RoleBindingManifest;
    readonly clusterRole: ClusterRoleManifest;
    readonly clusterRoleBinding: ClusterRoleBindingManifest;
}

export function renderFormationRbac(o: FormationRbacOptions): FormationRbacManifests {
    const names = formationRbacNames(o);
    const namespaced = (name: string) => ({ name, namespace: o.namespace, labels: o.labels });
    const subjects = [{ kind: "ServiceAccount", name: names.serviceAccount, namespace: o.namespace }];
    return {
        serviceAccount: {
            apiVersion: "v1",
            kind: "ServiceAccount",
            metadata: namespaced(names.serviceAccount),
            // Only short-lived tokens requested for it (kubectl create token) are used; no pod runs as it.
            automountServiceAccountToken: false,
        },
        role: {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "Role",
            metadata: namespaced(names.role),
            rules: [...FORMATION_ROLE_RULES],
        },
        roleBinding: {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            metadata: namespaced(names.role),
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: names.role },
            subjects,
        },
        clusterRole: {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: names.clusterRole, labels: o.labels },
            rules: [...FORMATION_CLUSTER_ROLE_RULES],
        },
        clusterRoleBinding: {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: names.clusterRole, labels: o.labels },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: names.clusterRole },
            subjects,
        },
    };
}
