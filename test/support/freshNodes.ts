/** Fresh, empty redis-server "pods" on one loopback block, with a direct transport to them: the rig of the formation tests. */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { FormNode } from "../../components/formation/form";
import { DirectTransport } from "../../components/formation/transport";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";

export interface FreshNodes {
    readonly nodes: LocalRedisNode[];
    readonly direct: DirectTransport;
    /** The nodes as the engine takes them. */
    readonly pods: FormNode[];
    /** Kills the processes and removes their files. */
    stop(): Promise<void>;
}

export async function startFreshNodes(o: {
    label: string;
    block: number;
    count: number;
    password: string;
    nodeTimeoutMs: number;
}): Promise<FreshNodes> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${o.label}-`));
    const nodes = await LocalRedisNode.startAll(
        loopbackAddresses(o.block, o.count).map((host, i) => ({
            host,
            dir: path.join(dir, `n${i}`),
            password: o.password,
            nodeTimeoutMs: o.nodeTimeoutMs,
        })),
    );
    const direct = new DirectTransport(o.password);
    return {
        nodes,
        direct,
        pods: nodes.map((n) => ({ address: n.address, target: n.address })),
        async stop() {
            await direct.close();
            await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}
