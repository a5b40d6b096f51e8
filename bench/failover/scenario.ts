/**
 * One failover under load, end to end on real processes: a formed local cluster, the
 * hit counter serving it, bounded concurrent clients, SIGKILL of the master that owns
 * `hits`, and load kept up until writes succeed again.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import Redis from "ioredis";
import { serverConfig } from "../../app/config";
import { HITS_KEY } from "../../app/hits";
import { RunningServer, startServer } from "../../app/server";
import { parseClusterNodes } from "../../components/formation/clusterState";
import { startLocalCluster, stopLocalCluster } from "../../local/cluster";
import { LocalRedisNode } from "../../local/redisNode";
import { FailoverFindings, HitLoad, analyseAnswers, statusOf } from "./load";

export interface FailoverOptions {
    /** Loopback block of the cluster's nodes. */
    readonly block: number;
    readonly nodeTimeoutMs: number;
    /** Default 1 (the shipped shape). With 2, durable writes resume without waiting for the killed node. */
    readonly replicasPerMaster?: number;
    readonly clients?: number;
    /** Load before the kill (ms). */
    readonly warmupMs?: number;
    /** Give up waiting for recovery after this long (ms). */
    readonly recoveryTimeoutMs?: number;
    /**
     * Start the killed node again once its replica has taken over, as the kubelet
     * restarts a crashed container. With one replica per master the new master has no
     * replica until then, so durable (WAIT) writes resume only after this rejoin.
     */
    readonly rejoinKilled?: boolean;
    /** WAIT replicas of the app (default 1; 0 = acknowledge without WAIT). */
    readonly waitReplicas?: number;
    readonly log?: (line: string) => void;
}

export interface FailoverResult extends FailoverFindings {
    readonly nodeTimeoutMs: number;
    readonly killedMaster: string;
    /** From the SIGKILL to the first acknowledged hit of a request sent after it; undefined = never recovered. */
    readonly unavailableMs?: number;
    /** From the SIGKILL until the replica reported itself master (the cluster's failover time). */
    readonly promotedMs?: number;
    /** From the SIGKILL until the restarted node answered again (when rejoinKilled). */
    readonly rejoinedMs?: number;
    /** Acknowledged hits answered before the SIGKILL (both > 0: the load straddled the outage). */
    readonly acknowledgedBeforeKill: number;
    /** Acknowledged hits of requests sent after the SIGKILL. */
    readonly acknowledgedAfterKill: number;
    /** `hits` as read from Redis after the run. */
    readonly finalCounter: number;
    /** /readyz answered 200 after the failover, from the same server process. */
    readonly readyAfter: boolean;
}

async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (await check()) return true;
        await new Promise((r) => setTimeout(r, 100));
    }
    return false;
}

export async function runFailover(o: FailoverOptions): Promise<FailoverResult> {
    const log = o.log ?? (() => undefined);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `hitcounter-failover-${o.nodeTimeoutMs}-`));
    const cluster = await startLocalCluster({
        masters: 3,
        replicasPerMaster: o.replicasPerMaster ?? 1,
        dir,
        block: o.block,
        nodeTimeoutMs: o.nodeTimeoutMs,
    });
    let server: RunningServer | undefined;
    let load: HitLoad | undefined;
    const probes: Redis[] = [];
    try {
        server = await startServer(
            serverConfig({
                redisNodes: cluster.seeds.map((s) => ({ host: s.split(":")[0], port: Number(s.split(":")[1]) })),
                redisPassword: cluster.password,
                host: "127.0.0.1",
                port: 0,
                metricsPort: 0,
                waitReplicas: o.waitReplicas ?? 1,
            }),
            { defaultMetrics: false, log: () => undefined },
        );
        const app = server;
        if (!(await eventually(async () => (await statusOf(`${app.url}/readyz`)) === 200, 10_000)))
            throw new Error("hit counter never became ready");

        // Ask the cluster itself which master owns the key right now.
        const slot = (await server.redis.cluster("KEYSLOT", HITS_KEY)) as number;
        const slots = await server.redis.cluster("SLOTS");
        const owner = slots.find(([from, to]) => slot >= from && slot <= to);
        if (!owner) throw new Error(`no master owns slot ${slot}`);
        const killedMaster = `${owner[2][0]}:${owner[2][1]}`;
        const victim = cluster.nodes.find((n) => n.address === killedMaster);
        if (!victim) throw new Error(`master ${killedMaster} is not one of this cluster's processes`);
        // CLUSTER SLOTS hides replicas that have not replicated a byte yet; CLUSTER NODES lists them all.
        const nodesText = (await server.redis.cluster("NODES")) as string;
        const heirs = parseClusterNodes(nodesText)
            .filter((e) => e.masterId === owner[2][2])
            .map((e) => e.address);
        if (heirs.length === 0) throw new Error(`master ${killedMaster} has no replica to fail over to:\n${nodesText}`);
        for (const heir of heirs) {
            const probe = new Redis({
                host: heir.slice(0, heir.lastIndexOf(":")),
                port: Number(heir.slice(heir.lastIndexOf(":") + 1)),
                password: cluster.password,
                maxRetriesPerRequest: 0,
            });
            probes.push(probe);
        }

        load = new HitLoad({ url: `${server.url}/`, clients: o.clients ?? 12 });
        await new Promise((r) => setTimeout(r, o.warmupMs ?? 1000));
        const killedAt = load.now();
        log(`SIGKILL master ${killedMaster} (owns slot ${slot} of "${HITS_KEY}") after ${load.answers.length} answers`);
        await victim.kill();
        const activeLoad = load;
        const failover = (async () => {
            const deadline = Date.now() + (o.recoveryTimeoutMs ?? 40_000);
            while (Date.now() < deadline) {
                const roles = (await Promise.all(probes.map((p) => p.call("ROLE")))) as Array<[string, ...unknown[]]>;
                const promoted = roles.findIndex((r) => r[0] === "master");
                if (promoted >= 0) {
                    const promotedMs = activeLoad.now() - killedAt;
                    log(`replica ${heirs[promoted]} promoted after ${promotedMs.toFixed(0)} ms`);
                    if (!(o.rejoinKilled ?? true)) return { promotedMs };
                    await LocalRedisNode.start(victim.spec);
                    return { promotedMs, rejoinedMs: activeLoad.now() - killedAt };
                }
                await new Promise((r) => setTimeout(r, 20));
            }
            return {};
        })();
        const [first, times] = await Promise.all([load.firstSuccessAfter(killedAt, o.recoveryTimeoutMs ?? 40_000), failover]);
        // A little more load after recovery shows the counter keeps going up.
        if (first) await new Promise((r) => setTimeout(r, 500));
        await load.stop();
        const findings = analyseAnswers(load.answers);
        const readyAfter = await eventually(async () => (await statusOf(`${app.url}/readyz`)) === 200, 10_000);
        const finalCounter = Number(await server.redis.get(HITS_KEY));
        return {
            ...findings,
            nodeTimeoutMs: o.nodeTimeoutMs,
            killedMaster,
            acknowledgedBeforeKill: load.answers.filter((a) => a.status === 200 && a.end < killedAt).length,
            acknowledgedAfterKill: load.answers.filter((a) => a.status === 200 && a.start >= killedAt).length,
            unavailableMs: first ? first.end - killedAt : undefined,
            ...times,
            finalCounter,
            readyAfter,
        };
    } finally {
        await load?.stop();
        await server?.close();
        probes.forEach((p) => p.disconnect());
        await cluster.stop();
        // Also the restarted node, which is not in cluster.nodes.
        await stopLocalCluster(dir);
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
