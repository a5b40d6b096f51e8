/**
 * A formed cluster of bare redis-server processes on loopback addresses (local/redisNode.ts),
 * formed by the same engine as on Kubernetes over the direct transport: the rig of the tests
 * and benchmarks whose subject is the engine or the app, not the pod. `npm run local` runs pods
 * instead (local/supervisor.ts). Addresses and password are kept in DIR/cluster.json (0600) so
 * stopLocalCluster finds the processes again.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { FormNode, FormResult, ShardInfo, form } from "../components/formation/form";
import { DEFAULT_NODE_TIMEOUT_MS } from "../components/redisDefaults";
import { validateShape } from "../components/formation/plan";
import { DirectTransport, NodeAccess } from "../components/formation/transport";
import { TlsFiles } from "../components/redis/redisConf";
import { newLocalTlsSecret, writeTlsFiles } from "./certificates";
import { LocalNodeSpec, LocalRedisNode, REDIS_PORT, loopbackAddresses, redisServerBinary } from "./redisNode";

export type { ShardInfo } from "../components/formation/form";

export interface LocalClusterOptions {
    readonly masters: number;
    readonly replicasPerMaster: number;
    /** Directory for every node's files and cluster.json. */
    readonly dir: string;
    /** Loopback block: nodes get 127.0.<block>.11, .12, … (default 1). */
    readonly block?: number;
    /** Generated when absent. */
    readonly password?: string;
    readonly nodeTimeoutMs?: number;
    readonly log?: (line: string) => void;
    /** Extra redis.conf lines for every node (benchmarks/tests). */
    readonly extraConfig?: readonly string[];
    /** Upper bound of each formation wait (default 60 s). */
    readonly formTimeoutMs?: number;
    /** TLS on every link, with a new CA and a certificate naming the nodes' addresses (in DIR/tls). */
    readonly tls?: boolean;
}

export interface LocalCluster {
    readonly dir: string;
    readonly password: string;
    /** How clients reach the nodes: the password and, with TLS, the CA. */
    readonly access: NodeAccess;
    /** With TLS: the CA certificate's file. */
    readonly caFile?: string;
    readonly nodes: LocalRedisNode[];
    /** host:port of every node, masters first. */
    readonly seeds: string[];
    readonly shards: ShardInfo[];
    readonly formation: FormResult;
    stop(): Promise<void>;
}

/** What DIR/cluster.json records. */
interface LocalClusterState {
    readonly masters: number;
    readonly replicasPerMaster: number;
    readonly password: string;
    readonly nodes: readonly LocalNodeSpec[];
}

const STATE_FILE = "cluster.json";

/** Stable name a node announces (nodes.conf keeps it), like a pod's DNS name on Kubernetes. */
export const localHostname = (index: number) => `redis-${index}.local`;

function readLocalClusterState(dir: string): LocalClusterState | undefined {
    const file = path.join(dir, STATE_FILE);
    if (!fs.existsSync(file)) return undefined;
    return JSON.parse(fs.readFileSync(file, "utf8")) as LocalClusterState;
}

/** Node processes of DIR that are still running. */
function attachLocalNodes(dir: string): LocalRedisNode[] {
    const state = readLocalClusterState(dir);
    return (state?.nodes ?? []).map((spec) => LocalRedisNode.attach(spec)).filter((n): n is LocalRedisNode => n !== undefined);
}

/** Starts masters × (1 + replicasPerMaster) redis-server processes and forms them; on any failure stops what it started. */
export async function startLocalCluster(o: LocalClusterOptions): Promise<LocalCluster> {
    validateShape(o.masters * (1 + o.replicasPerMaster), o.masters, o.replicasPerMaster);
    redisServerBinary();
    const dir = path.resolve(o.dir);
    refuseRunningNodes(dir, o.dir);
    const log = o.log ?? (() => undefined);
    const { password, tls, access, specs } = writeLocalNodeFiles(o, dir);
    const count = specs.length;

    log(`starting ${count} redis-server processes on ${specs[0].host}…${specs[count - 1].host}`);
    // Nodes are polled for PING one after another (synchronously), so many nodes on a busy
    // machine need more than the per-node default before the last one is seen.
    const startTimeoutMs = Math.max(10_000, count * 1000);
    const nodes = await LocalRedisNode.startAll(specs, startTimeoutMs);
    const stopAll = () => Promise.all(nodes.map((n) => n.stop())).then(() => undefined);

    const transport = new DirectTransport(access);
    try {
        const formNodes: FormNode[] = nodes.map((n) => ({ address: n.address, target: n.address }));
        const formation = await form({
            nodes: formNodes,
            masters: o.masters,
            replicasPerMaster: o.replicasPerMaster,
            transport,
            log,
            timeoutMs: o.formTimeoutMs,
        });
        return {
            dir,
            password,
            access,
            caFile: tls?.caFile,
            nodes,
            seeds: [...formation.seeds],
            shards: [...formation.shards],
            formation,
            stop: stopAll,
        };
    } catch (e) {
        await stopAll();
        throw e;
    } finally {
        await transport.close();
    }
}

/** Refuses a DIR whose nodes still run: a second cluster would share their files, and cluster.json would lose track of them. */
function refuseRunningNodes(dir: string, given: string): void {
    const running = attachLocalNodes(dir);
    if (running.length > 0) {
        throw new Error(
            `dir: ${dir} already has ${running.length} running nodes (${running.map((n) => n.address).join(", ")}); stop them first (\`npm run local -- down --dir ${given}\`)`,
        );
    }
}

/**
 * Everything the nodes need before they start: their password, TLS files (with TLS), each node's spec,
 * and DIR/cluster.json: written before any process starts, so stopLocalCluster and the next start's
 * running-nodes check find them even if this process dies half-way.
 */
function writeLocalNodeFiles(
    o: LocalClusterOptions,
    dir: string,
): { password: string; tls: TlsFiles | undefined; access: NodeAccess; specs: LocalNodeSpec[] } {
    // A DIR started before keeps its password: its data and clients' settings stay valid.
    const password = o.password ?? readLocalClusterState(dir)?.password ?? randomBytes(18).toString("base64url");
    const hosts = loopbackAddresses(o.block ?? 1, o.masters * (1 + o.replicasPerMaster));
    fs.mkdirSync(dir, { recursive: true });
    const tls: TlsFiles | undefined = o.tls ? writeTlsFiles(path.join(dir, "tls"), newLocalTlsSecret(["localhost"], hosts)) : undefined;
    const access: NodeAccess = { password, ...(tls ? { tls: { ca: fs.readFileSync(tls.caFile, "utf8") } } : {}) };
    const specs: LocalNodeSpec[] = hosts.map((host, i) => ({
        host,
        port: REDIS_PORT,
        dir: path.join(dir, `node-${i}`),
        password,
        nodeTimeoutMs: o.nodeTimeoutMs ?? DEFAULT_NODE_TIMEOUT_MS,
        announceHostname: localHostname(i),
        extraConfig: o.extraConfig,
        tls,
    }));
    const state: LocalClusterState = { masters: o.masters, replicasPerMaster: o.replicasPerMaster, password, nodes: specs };
    fs.writeFileSync(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
    return { password, tls, access, specs };
}

/** Stops every node recorded in DIR (clean shutdown, data stays on disk). */
export async function stopLocalCluster(dir: string): Promise<void> {
    await Promise.all(attachLocalNodes(path.resolve(dir)).map((n) => n.stop()));
}
