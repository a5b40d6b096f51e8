/**
 * Real redis-server "pods" behind the stand-in API server (fakeKubeApi.ts), enforcing the formation's
 * shipped Role and ClusterRole: the rig of the tests that run the providers over Kubernetes exec.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderFormationRbac } from "../../components/redis/formationRbac";
import { redisPodLabels } from "../../components/redis/manifests";
import { DirectTransport } from "../../components/formation/transport";
import { LocalRedisNode, LocalNodeSpec, loopbackAddresses } from "../../local/redisNode";
import { FakeKubeApi, FakePod, RbacRule, RbacRules } from "./fakeKubeApi";
import { TLS_MOUNT } from "../../components/redis/paths";
import { TlsFiles } from "../../components/redis/redisConf";
import { caOf, testTlsFiles } from "./tls";

/** The rules of the Role and ClusterRole the stack creates for the formation in namespace `redis`. */
export function shippedRbac(): RbacRules {
    const rbac = renderFormationRbac({ name: "redis", namespace: "redis", labels: redisPodLabels("redis") });
    return { namespaced: rbac.role.rules as RbacRule[], clusterWide: rbac.clusterRole.rules as RbacRule[] };
}

export interface PodRig {
    /** redis-0 … redis-(count-1), in ordinal order. */
    readonly nodes: LocalRedisNode[];
    readonly specs: LocalNodeSpec[];
    readonly api: FakeKubeApi;
    readonly direct: DirectTransport;
    /** The certificate files, when the pods speak TLS. */
    readonly tls?: TlsFiles;
    /** Three k8s nodes in three zones: pod i runs on node-(i mod 3). */
    pod(i: number): FakePod;
    /** Kills and removes the pods with ordinals >= `count`, as a smaller StatefulSet does. */
    shrinkTo(count: number): Promise<void>;
    stop(): Promise<void>;
}

export async function startPodRig(o: {
    label: string;
    block: number;
    count: number;
    password: string;
    nodeTimeoutMs: number;
    /** TLS on every link, the certificates mounted at /tls in every pod, as the stack ships them. */
    tls?: boolean;
}): Promise<PodRig> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${o.label}-`));
    const tls = o.tls ? testTlsFiles(dir, loopbackAddresses(o.block, o.count)) : undefined;
    const specs: LocalNodeSpec[] = loopbackAddresses(o.block, o.count).map((host, i) => ({
        host,
        dir: path.join(dir, `redis-${i}`),
        password: o.password,
        nodeTimeoutMs: o.nodeTimeoutMs,
        ...(tls ? { tls } : {}),
    }));
    const nodes = await LocalRedisNode.startAll(specs);
    const pod = (i: number): FakePod => ({
        name: `redis-${i}`,
        ip: nodes[i].host,
        nodeName: `node-${i % 3}`,
        ready: true,
        ...(tls
            ? {
                  env: { REDIS_PASSWORD: o.password, REDIS_TLS_DIR: TLS_MOUNT },
                  mounts: [{ mountPath: TLS_MOUNT, local: path.dirname(tls.caFile) }],
              }
            : { env: { REDIS_PASSWORD: o.password } }),
    });
    const api = await FakeKubeApi.start(
        "redis",
        nodes.map((_, i) => pod(i)),
        ["a", "b", "c"].map((z, i) => ({ name: `node-${i}`, zone: `europe-west1-${z}` })),
        shippedRbac(),
    );
    const direct = new DirectTransport(tls ? { password: o.password, tls: { ca: caOf(tls) } } : o.password);
    return {
        tls,
        nodes,
        specs,
        api,
        direct,
        pod,
        async shrinkTo(count) {
            api.pods = api.pods.filter((p) => Number(p.name.split("-")[1]) < count);
            await Promise.all(nodes.slice(count).map((n) => n.stop("SIGKILL")));
        },
        async stop() {
            await direct.close();
            await api.close();
            await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}
