/**
 * Self-healing after pods restart on new IPs, with real redis-server processes on
 * this file's loopback block. A node "restarts on a new address" like a
 * pod does: its process stops, node-start.sh runs against its data dir with
 * RESOLVE_CMD mapping every stable name to its current address, and redis-server
 * starts again on the new address with the same data dir (nodes.conf, AOF).
 *
 * Healed = every node reports cluster_state:ok and sees all six nodes connected at
 * their current addresses with no fail flags, every replica's master_link_status is
 * up, the shards have the same members and slots as before, and every key written
 * before reads back. Healing times are printed, never asserted.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Cluster } from "ioredis";
import { ClusterNodeEntry, parseClusterNodes } from "../../components/formation/clusterState";
import { LocalCluster, startLocalCluster, stopLocalCluster } from "../../local/cluster";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";
import { tagForSlot } from "../support/keySlots";
import { loopbackBlocks } from "../support/loopbackBlocks";
import { POSIX_SHELLS, runNodeStart, writeHosts, writeResolver, writeUsers } from "./startscriptSupport";
import { setTimeout as sleep } from "timers/promises";

const [BLOCK] = loopbackBlocks(__filename);
const KEYS = 300;
const HEAL_TIMEOUT_MS = 30_000;
const NOADDR_TIMEOUT_MS = 10_000;

function cli(host: string, password: string, ...args: string[]): string {
    const r = spawnSync("redis-cli", ["--no-auth-warning", "-h", host, "-p", "6379", ...args], {
        encoding: "utf8",
        env: { ...process.env, REDISCLI_AUTH: password },
        timeout: 5000,
    });
    return (r.stdout ?? "").replace(/\r/g, "");
}

/** A shard as membership (node IDs, sorted) and slots; roles inside a shard may swap after a failover. */
function shardsOf(view: readonly ClusterNodeEntry[]): string[] {
    return view
        .filter((e) => e.flags.includes("master") && e.slotCount > 0)
        .map((m) => {
            const members = [m.id, ...view.filter((r) => r.masterId === m.id).map((r) => r.id)].sort();
            return `${m.slotRanges.map(([a, b]) => `${a}-${b}`).join(",")}:${members.join(",")}`;
        })
        .sort();
}

/** Why the cluster is not healed yet, or undefined when it is. */
function notHealedBecause(nodes: readonly LocalRedisNode[], password: string, expectedShards: readonly string[]): string | undefined {
    const hostById = new Map<string, string>();
    for (const n of nodes) hostById.set(cli(n.host, password, "CLUSTER", "MYID").trim(), n.host);
    for (const n of nodes) {
        const state = /cluster_state:(\w+)/.exec(cli(n.host, password, "CLUSTER", "INFO"))?.[1];
        if (state !== "ok") return `${n.host}: cluster_state:${state ?? "no answer"}`;
        const view = parseClusterNodes(cli(n.host, password, "CLUSTER", "NODES"));
        if (view.length !== nodes.length) return `${n.host} knows ${view.length} nodes`;
        for (const e of view) {
            const bad = e.flags.filter((f) => ["fail", "fail?", "noaddr", "handshake"].includes(f));
            if (bad.length > 0 || e.linkState !== "connected") return `${n.host} sees ${e.address} as ${e.flags.join(",")} ${e.linkState}`;
            const expected = hostById.get(e.id);
            if (`${expected}:6379` !== e.address) return `${n.host} sees node ${e.id} at ${e.address}, it is at ${expected}`;
        }
        const self = view.find((e) => e.flags.includes("myself"));
        if (self?.masterId && !/master_link_status:up/.test(cli(n.host, password, "INFO", "replication"))) {
            return `${n.host}: replica link not up`;
        }
        const shards = shardsOf(view);
        if (JSON.stringify(shards) !== JSON.stringify(expectedShards)) return `${n.host} sees shards ${shards.join(" ")}`;
    }
    return undefined;
}

/**
 * Polls until some node sees a peer as noaddr (port 0: Redis never dials it again); returns where,
 * preferring a master (then with one of its slots). Fails when no noaddr shows within
 * NOADDR_TIMEOUT_MS: then a restart without the script did not break the cluster, and the repair
 * test after it would prove nothing.
 */
async function waitForNoaddr(nodes: readonly LocalRedisNode[], password: string): Promise<{ at: LocalRedisNode; peer: ClusterNodeEntry }> {
    const deadline = Date.now() + NOADDR_TIMEOUT_MS;
    while (Date.now() < deadline) {
        const seen = nodes.flatMap((at) =>
            parseClusterNodes(cli(at.host, password, "CLUSTER", "NODES"))
                .filter((e) => e.flags.includes("noaddr"))
                .map((peer) => ({ at, peer })),
        );
        if (seen.length > 0) return seen.find((s) => s.peer.slotCount > 0) ?? seen[0];
        await sleep(100);
    }
    throw new Error(
        `precondition not met: after a restart on shuffled addresses without node-start.sh, no node marked a peer noaddr within ${NOADDR_TIMEOUT_MS} ms`,
    );
}

async function waitUntilHealed(
    label: string,
    nodes: readonly LocalRedisNode[],
    password: string,
    expectedShards: readonly string[],
    since: number,
): Promise<number> {
    let why: string | undefined = "not checked";
    while (Date.now() - since < HEAL_TIMEOUT_MS) {
        why = notHealedBecause(nodes, password, expectedShards);
        if (!why) {
            const ms = Date.now() - since;
            console.log(`      healing took ${ms} ms (${label}; from the first stop to every check passing)`);
            return ms;
        }
        await sleep(100);
    }
    throw new Error(`${label}: not healed after ${HEAL_TIMEOUT_MS} ms: ${why}`);
}

function clusterClient(nodes: readonly LocalRedisNode[], password: string): Cluster {
    return new Cluster(
        nodes.map((n) => ({ host: n.host, port: n.port })),
        { redisOptions: { password }, enableReadyCheck: true },
    );
}

const keyName = (i: number) => `heal:{${i}}:k`;

async function writeKeys(nodes: readonly LocalRedisNode[], password: string): Promise<void> {
    const c = clusterClient(nodes, password);
    try {
        await Promise.all(Array.from({ length: KEYS }, (_, i) => c.set(keyName(i), `v${i}`)));
        // WAIT so every write is on a replica before any process stops.
        for (const n of nodes) {
            const self = parseClusterNodes(cli(n.host, password, "CLUSTER", "NODES")).find((e) => e.flags.includes("myself"));
            if (self && !self.masterId) cli(n.host, password, "WAIT", "1", "2000");
        }
    } finally {
        c.disconnect();
    }
}

async function assertKeysIntact(nodes: readonly LocalRedisNode[], password: string): Promise<void> {
    const c = clusterClient(nodes, password);
    try {
        const values = await Promise.all(Array.from({ length: KEYS }, (_, i) => c.get(keyName(i))));
        const wrong = values.map((v, i) => [i, v] as const).filter(([i, v]) => v !== `v${i}`);
        assert.deepStrictEqual(wrong, [], `${wrong.length} of ${KEYS} keys lost or changed`);
    } finally {
        c.disconnect();
    }
}

describe("self-healing when pods restart on new addresses (real redis-server)", function () {
    this.timeout(90_000);
    let dir: string;
    let cluster: LocalCluster;
    /** The processes currently running, by node index (the stable name redis-<i>.local). */
    let nodes: LocalRedisNode[];
    let hostsFile: string;
    let resolver: string;
    let shardsBefore: string[];

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "heal-"));
        cluster = await startLocalCluster({ masters: 3, replicasPerMaster: 1, dir: path.join(dir, "cluster"), block: BLOCK });
        nodes = [...cluster.nodes];
        hostsFile = path.join(dir, "hosts");
        resolver = writeResolver(dir, hostsFile);
        shardsBefore = shardsOf(parseClusterNodes(cli(nodes[0].host, cluster.password, "CLUSTER", "NODES")));
        assert.strictEqual(shardsBefore.length, 3);
        await writeKeys(nodes, cluster.password);
    });

    after(async () => {
        // Pidfiles live in each node's dir, so this stops the processes wherever they moved.
        await stopLocalCluster(path.join(dir, "cluster"));
        await Promise.all(nodes.map((n) => n.stop()));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    /** Publishes the current name -> address of every node, as cluster DNS would. */
    function publishDns(hosts: readonly string[]): void {
        writeHosts(hostsFile, Object.fromEntries(nodes.map((n, i) => [n.spec.announceHostname!, hosts[i]])));
    }

    /** Runs the container's start script for node `i` on `newHost` (execs `true` instead of redis-server). */
    function repair(i: number, newHost: string): void {
        const spec = nodes[i].spec;
        const r = runNodeStart(
            POSIX_SHELLS[0],
            {
                POD_NAME: `redis-${i}`,
                POD_IP: newHost,
                POD_HOSTNAME: spec.announceHostname!,
                // The pod's users Secret and ACL template (this bare node keeps its own password; only nodes.conf matters here).
                ...writeUsers(path.join(path.dirname(spec.dir), `secret-${i}`)),
                REDIS_DATA_DIR: spec.dir,
                REDIS_SHARED_CONF: path.join(spec.dir, "redis.conf"),
                REDIS_RUNTIME_CONF: path.join(spec.dir, "runtime.conf"),
                RESOLVE_CMD: resolver,
            },
            ["true"],
        );
        assert.strictEqual(r.status, 0, r.stderr);
    }

    /** Stops the given nodes, moves them to their new hosts (start script first), starts them. */
    async function restartOnNewAddresses(moves: ReadonlyArray<readonly [number, string]>): Promise<void> {
        await Promise.all(moves.map(([i]) => nodes[i].stop()));
        const hosts = nodes.map((n) => n.host);
        for (const [i, host] of moves) hosts[i] = host;
        publishDns(hosts);
        for (const [i, host] of moves) repair(i, host);
        const started = await LocalRedisNode.startAll(moves.map(([i, host]) => ({ ...nodes[i].spec, host })));
        moves.forEach(([i], k) => (nodes[i] = started[k]));
    }

    const roleOf = (n: LocalRedisNode) => /role:(\w+)/.exec(cli(n.host, cluster.password, "INFO", "replication"))?.[1] ?? "unknown";
    const fresh = loopbackAddresses(BLOCK, 20, 31);
    let nextFresh = 0;

    it("(a) a master restarts on a new address: it rejoins, cluster_state:ok, every key intact", async () => {
        const i = nodes.findIndex((n) => roleOf(n) === "master");
        const newHost = fresh[nextFresh++];
        const since = Date.now();

        await restartOnNewAddresses([[i, newHost]]);

        await waitUntilHealed(`master redis-${i} moved to ${newHost}`, nodes, cluster.password, shardsBefore, since);
        await assertKeysIntact(nodes, cluster.password);
    });

    it("(c) a replica restarts on a new address: it replicates again (master_link_status:up)", async () => {
        const i = nodes.findIndex((n) => roleOf(n) === "slave");
        const newHost = fresh[nextFresh++];
        const since = Date.now();

        await restartOnNewAddresses([[i, newHost]]);

        await waitUntilHealed(`replica redis-${i} moved to ${newHost}`, nodes, cluster.password, shardsBefore, since);
        assert.match(cli(newHost, cluster.password, "INFO", "replication"), /master_link_status:up/);
        await assertKeysIntact(nodes, cluster.password);
    });

    it("(b) every node stops, then all start with their addresses shuffled among them: the cluster heals by itself, same shards, every key intact", async () => {
        const roles = nodes.map(roleOf);
        // Rotate the current addresses by one, so every node takes another node's address.
        const hosts = nodes.map((n) => n.host);
        const moves = nodes.map((_, i) => [i, hosts[(i + 1) % hosts.length]] as const);
        const since = Date.now();

        await restartOnNewAddresses(moves);

        await waitUntilHealed("all 6 nodes restarted with shuffled addresses", nodes, cluster.password, shardsBefore, since);
        // Nobody could fail over while everyone was down: the same nodes are masters.
        assert.deepStrictEqual(nodes.map(roleOf), roles);
        await assertKeysIntact(nodes, cluster.password);
    });

    it("(b') full restart with shuffled addresses where one pod comes up late (its name does not resolve while the others start): heals once it starts", async () => {
        const hosts = nodes.map((n) => n.host);
        const late = 2;
        const target = nodes.map((_, i) => hosts[(i + 2) % hosts.length]);
        const since = Date.now();
        await Promise.all(nodes.map((n) => n.stop()));

        // DNS knows every pod but the late one; the others start and keep its last known address,
        // which now belongs to another node.
        writeHosts(hostsFile, Object.fromEntries(nodes.map((n, i) => [n.spec.announceHostname!, target[i]]).filter((_, i) => i !== late)));
        const early = nodes.map((_, i) => i).filter((i) => i !== late);
        for (const i of early) repair(i, target[i]);
        const started = await LocalRedisNode.startAll(early.map((i) => ({ ...nodes[i].spec, host: target[i] })));
        early.forEach((i, k) => (nodes[i] = started[k]));
        await sleep(1000);

        publishDns(target);
        repair(late, target[late]);
        nodes[late] = await LocalRedisNode.start({ ...nodes[late].spec, host: target[late] });

        await waitUntilHealed(`full restart, redis-${late} started 1 s after the others`, nodes, cluster.password, shardsBefore, since);
        await assertKeysIntact(nodes, cluster.password);
    });

    it("a cluster restarted on shuffled addresses WITHOUT the script does not heal (peers marked noaddr, never dialled again), and the script repairs it", async () => {
        const hosts = nodes.map((n) => n.host);
        await Promise.all(nodes.map((n) => n.stop()));
        nodes = await LocalRedisNode.startAll(nodes.map((n, i) => ({ ...n.spec, host: hosts[(i + 1) % hosts.length] })));
        // The precondition, asserted: each node dials its peers' old addresses; where it finds another
        // node there it marks that peer noaddr (port 0) and never dials it again, so the cluster does
        // not heal by itself. When that peer is a master, the node cannot serve its slots at all.
        const { at, peer } = await waitForNoaddr(nodes, cluster.password);
        const why = notHealedBecause(nodes, cluster.password, shardsBefore);
        assert.ok(why, `the cluster counts as healed without the script, although ${at.host} sees ${peer.id} noaddr`);
        let reply = "";
        if (peer.slotCount > 0) {
            const slot = peer.slotRanges[0][0];
            reply = cli(at.host, cluster.password, "GET", `{${tagForSlot(slot)}}`).trim();
            assert.match(
                reply,
                new RegExp(`^(MOVED ${slot} :0|CLUSTERDOWN )`),
                `${at.host} still serves slot ${slot} of a master it sees noaddr`,
            );
        }
        console.log(
            `      restarted without node-start.sh: ${at.host} sees ${peer.flags.join(",")} ${peer.id.slice(0, 8)} at port 0${reply ? ` and answers its slot with "${reply}"` : ""}; not healed: ${why}`,
        );

        const since = Date.now();
        await restartOnNewAddresses(nodes.map((n, i) => [i, n.host] as const));

        await waitUntilHealed("repaired by the script after a restart without it", nodes, cluster.password, shardsBefore, since);
        await assertKeysIntact(nodes, cluster.password);
    });
});
