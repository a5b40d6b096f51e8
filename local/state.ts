/**
 * What DIR records about one local cluster (Pulumi-free, read by the supervisor and every verb):
 * the choices `up` made (cluster.json), the Secrets (secrets.json), the rendered objects, and the
 * pods with their addresses and processes (pods.json, kept current by the supervisor).
 */
import * as path from "path";
import { NodeAccess } from "../components/formation/transport";
import { TLS_VOLUME } from "../components/redis/paths";
import { TLS_FILES } from "../components/redis/tls";
import { ACL_USERS, ADMIN_USER, AclUserName, REPLICATION_USER } from "../components/redis/acl";
import { Layout, readJson, writeJson } from "./layout";
import { ConfigMapJson, StatefulSetJson } from "./podTemplate";
import { KubeletTimings } from "./rules";
import { ContainerProcess } from "./pod";
import { ProcessRecord, isSameProcessAlive } from "../lib/process";

export interface ClusterConfig {
    readonly masters: number;
    readonly replicasPerMaster: number;
    readonly nodeTimeoutMs: number;
    /** The pod template's preStop handover and failover agent (redis:handover, redis:takeover). */
    readonly handover: boolean;
    readonly takeover: boolean;
    /** The StatefulSet runs the surge pod (components/shape.ts surgeOrdinal) beyond the shape; absent: false. */
    readonly surgeReplica?: boolean;
    /** Pods live on 127.0.<block>.11-254. */
    readonly block: number;
    /** Namespace of the rendered objects (pod DNS names and POD_NAMESPACE). */
    readonly namespace: string;
    /** Cluster DNS domain of pod names: <pod>.<service>.<namespace>.svc.<domain>. */
    readonly clusterDomain: string;
    /** The users Secret: one key a user (components/redis/acl.ts ACL_USERS), mounted by every pod. */
    readonly usersSecret: string;
    /** With TLS (`up --tls`): the TLS Secret (tls.crt, tls.key, ca.crt) the pods mount. */
    readonly tls?: { readonly secret: string };
    /** Images the runtime runs; containers with any other image are left out. */
    readonly runnableImages: readonly string[];
    /** Name of the Redis container (where redis-server's local network arguments go). */
    readonly redisContainer: string;
    readonly timings: KubeletTimings;
    /** The hit counter: preferred port on 127.0.0.1 and the replicas WAIT asks for. */
    readonly app: { readonly port?: number; readonly waitReplicas: number };
}

export type Secrets = Record<string, Record<string, string>>;

export interface PodRecord {
    readonly name: string;
    readonly address: string;
    readonly processes: readonly ContainerProcess[];
}

/** pods.json: the supervisor, every pod's current address and processes, and the last address handed out. */
export interface PodsFile {
    readonly supervisor?: ProcessRecord;
    readonly pods: readonly PodRecord[];
    readonly lastAddress?: string;
    readonly appUrl?: string;
}

export function readConfig(layout: Layout): ClusterConfig | undefined {
    return readJson<ClusterConfig>(layout.config);
}

export function writeConfig(layout: Layout, c: ClusterConfig): void {
    writeJson(layout.config, c);
}

export function readSecrets(layout: Layout): Secrets {
    return readJson<Secrets>(layout.secrets) ?? {};
}

export function writeSecrets(layout: Layout, s: Secrets): void {
    writeJson(layout.secrets, s);
}

/** Every user's password, from the users Secret. */
export function usersOf(layout: Layout, config: ClusterConfig): Record<AclUserName, string> {
    const secret = readSecrets(layout)[config.usersSecret] ?? {};
    const missing = ACL_USERS.filter((u) => !secret[u]);
    if (missing.length)
        throw new Error(
            `${layout.secrets} holds no password for ${missing.join(", ")} (Secret ${config.usersSecret}); is ${layout.dir} a local cluster's directory?`,
        );
    return Object.fromEntries(ACL_USERS.map((u) => [u, secret[u]])) as Record<AclUserName, string>;
}

/** How clients reach the pods as `user` (default admin): its password and, with TLS, the CA from the TLS Secret. */
export function accessOf(layout: Layout, config: ClusterConfig, user: AclUserName = ADMIN_USER): NodeAccess {
    const users = usersOf(layout, config);
    const access: NodeAccess = { username: user, password: users[user], replicationPassword: users[REPLICATION_USER] };
    if (!config.tls) return access;
    const ca = readSecrets(layout)[config.tls.secret]?.[TLS_FILES.ca];
    if (!ca) throw new Error(`${layout.secrets} holds no CA (Secret ${config.tls.secret}); is ${layout.dir} a local cluster's directory?`);
    return { ...access, tls: { ca } };
}

/** With TLS, the CA's file as the pods mount it (for redis-cli and the app); undefined without TLS. */
export function caFileOf(layout: Layout, config: ClusterConfig): string | undefined {
    return config.tls ? path.join(layout.volume(TLS_VOLUME), TLS_FILES.ca) : undefined;
}

export function readObjects(layout: Layout): { statefulSet: StatefulSetJson; configMap: ConfigMapJson } {
    const statefulSet = readJson<StatefulSetJson>(layout.objectFile("statefulset"));
    const configMap = readJson<ConfigMapJson>(layout.objectFile("configmap"));
    if (!statefulSet || !configMap)
        throw new Error(
            `${layout.dir} holds no rendered StatefulSet and ConfigMap: start it with \`npm run local -- up --dir ${layout.dir}\``,
        );
    return { statefulSet, configMap };
}

export function readPods(layout: Layout): PodsFile {
    return readJson<PodsFile>(layout.pods) ?? { pods: [] };
}

export function writePods(layout: Layout, p: PodsFile): void {
    writeJson(layout.pods, p);
}

/** Processes recorded in DIR that still run (the same processes, not later ones with reused pids). */
export function runningProcesses(layout: Layout): ContainerProcess[] {
    return readPods(layout).pods.flatMap((p) => p.processes.filter(isSameProcessAlive));
}

/** A supervisor that died leaves its pods running: a new one must not start the same pods beside them. */
export function refuseLeftovers(layout: Layout): void {
    const left = runningProcesses(layout);
    if (left.length > 0) {
        throw new Error(
            `processes of an earlier run still run in ${layout.dir} (${left.map((p) => `${p.pod} pid ${p.pid}`).join(", ")}): ` +
                `stop them with \`npm run local -- down --dir ${layout.dir}\``,
        );
    }
}
