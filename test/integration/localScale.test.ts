/**
 * Local parity (loopback block 127.0.214.x): `npm run local -- scale` runs the same scale-out and
 * scale-in code as `pulumi up`, through the local pod runtime and in the same order (drain, then the
 * supervisor — the StatefulSet controller — removes or adds pods, then the formation joins or forgets),
 * and `status` reports the drift the formation's read reports, the surge pod (issue 15) left out of both. Real child processes of the CLI.
 */
import * as assert from "assert";
import * as path from "path";
import { Cluster } from "ioredis";
import { parseClusterNodes } from "../../components/formation/clusterState";
import { DriftItem } from "../../components/formation/drift";
import { Layout } from "../../local/layout";
import { StatusView } from "../../local/protocol";
import { usersOf, readConfig } from "../../local/state";
import { assertRedisCliCheckClean } from "../support/clusterChecks";
import { Credentials, admin, lastJson, redisCli, removeTempDirs, runCli, tempDir } from "../support/runtime";

const KEYS = 1000;
type StatusJson = StatusView & { drift: DriftItem[]; converge: string[] };

describe("local parity: npm run local -- scale, and drift in status", function () {
    this.timeout(300_000);
    let dir: string;
    let password: Credentials;
    let adminPassword: string;
    let client: Cluster | undefined;

    const cli = (...args: string[]) => {
        const r = runCli([...args, "--dir", dir], 240_000);
        assert.strictEqual(r.status, 0, `${args.join(" ")} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
        return r;
    };
    const status = () => lastJson<StatusJson>(cli("status", "--json"));
    const hosts = (s: StatusView) => s.pods.map((p) => p.address);
    async function allReadable(prefix: string): Promise<void> {
        const values = await Promise.all(Array.from({ length: KEYS }, (_, i) => client!.get(`${prefix}:${i}`)));
        assert.deepStrictEqual(
            values.flatMap((v, i) => (v === `v${i}` ? [] : [i])),
            [],
        );
    }
    /** The members: every pod but the surge pod (issue 15), which knows no other node at rest. */
    const members = (s: StatusView) => s.pods.filter((p) => !p.surge);
    function nobodyRemembers(s: StatusView, removed: readonly string[]): void {
        for (const h of hosts({ ...s, pods: members(s) })) {
            const known = parseClusterNodes(redisCli(h, password, "CLUSTER", "NODES")).map((e) => e.address.split(":")[0]);
            assert.deepStrictEqual(
                known.filter((a) => removed.includes(a)),
                [],
                `${h} remembers a removed pod`,
            );
            assert.strictEqual(known.length, members(s).length);
        }
    }

    before(() => {
        dir = path.join(tempDir("scale"), "cluster");
        cli("up", "--masters", "3", "--replicas", "1", "--block", "214", "--pod-start-delay-ms", "500", "--probe-period-scale", "0.2");
        const layout = new Layout(dir);
        const config = readConfig(layout);
        assert.ok(config, `no local cluster in ${dir}`);
        adminPassword = usersOf(layout, config).admin;
        password = admin(adminPassword);
    });

    after(async () => {
        client?.disconnect();
        runCli(["down", "--dir", dir]);
        removeTempDirs();
    });

    it("scale-out 3 -> 4 masters: the new pods join, a quarter of the slots moves with its keys; status shows no drift", async () => {
        client = new Cluster([{ host: status().pods[0].address, port: 6379 }], {
            redisOptions: { username: "admin", password: adminPassword },
        });
        await Promise.all(Array.from({ length: KEYS }, (_, i) => client!.set(`before:${i}`, `v${i}`)));
        const out = cli("scale", "--masters", "4").stdout;
        // redis-6, the surge pod of 3x1, is a member of 4x1; redis-8 is its surge pod.
        assert.match(out, /^scaled 3x1 -> 4x1: drained none; removed none; added redis-7, redis-8$/m);
        assert.match(out, /^drift: none$/m);
        const s = status();
        assert.strictEqual(s.pods.length, 9);
        assert.deepStrictEqual(
            s.pods.filter((p) => p.surge).map((p) => p.name),
            ["redis-8"],
        );
        assert.deepStrictEqual([s.drift, s.converge, s.clusterState], [[], [], "ok"]);
        assertRedisCliCheckClean(`${s.pods[0].address}:6379`, password);
        await allReadable("before");
    });

    it("scale-in 4 -> 3 masters: drained first, then removed, then forgotten by every pod; every key readable", async () => {
        const before = status();
        await Promise.all(Array.from({ length: KEYS }, (_, i) => client!.set(`four:${i}`, `v${i}`)));
        const r = cli("scale", "--masters", "3");
        // redis-6 leaves the cluster but stays in the StatefulSet as 3x1's surge pod; redis-7 and the old surge pod go.
        assert.match(r.stdout, /^scaled 4x1 -> 3x1: drained redis-6, redis-7, redis-8; removed redis-7, redis-8; added none$/m);
        // The order on the way: the drain's plan, then the formation forgetting the removed pods.
        const drainAt = r.stderr.indexOf("[scale-in] plan: drain 3 leaving nodes");
        const forgetAt = r.stderr.indexOf("[formation] forgetting 1 departed nodes"); // redis-7; the drain released redis-6 itself
        assert.ok(drainAt >= 0 && forgetAt > drainAt, r.stderr);
        const s = status();
        assert.strictEqual(s.pods.length, 7);
        assert.deepStrictEqual([s.drift, s.clusterState], [[], "ok"]);
        nobodyRemembers(s, hosts(before).slice(6, 8));
        assertRedisCliCheckClean(`${s.pods[0].address}:6379`, password);
        await allReadable("before");
        await allReadable("four");
    });

    it("replicas 1 -> 2: redis-6 (the surge pod) joins, redis-7 and redis-8 come back on their kept claims and join as replicas again; no surge pod", async () => {
        const r = cli("scale", "--replicas", "2");
        assert.match(r.stdout, /^scaled 3x1 -> 3x2: drained none; removed none; added redis-7, redis-8$/m);
        const s = status();
        assert.deepStrictEqual([s.drift, s.clusterState, s.pods.length], [[], "ok", 9]);
        assert.strictEqual(s.pods.filter((p) => p.role === "replica").length, 6);
        await allReadable("four");
    });

    it("status reports drift as the formation's read does: a shard left without its replica, with the plan that converges it", () => {
        const s = status();
        const masters = s.pods.filter((p) => p.role === "master");
        const replica = s.pods.find((p) => p.role === "replica" && p.master === masters[0].name)!;
        const otherId = parseClusterNodes(redisCli(masters[1].address, password, "CLUSTER", "NODES")).find((e) =>
            e.flags.includes("myself"),
        )!.id;
        redisCli(replica.address, password, "CLUSTER", "REPLICATE", otherId);
        const drifted = status();
        assert.deepStrictEqual(
            drifted.drift.map((d) => d.kind),
            ["missing-replica", "surplus-replica"],
        );
        assert.match(
            drifted.drift[0].message,
            new RegExp(`^${masters[0].name} \\(${masters[0].address}:6379\\) has 1 replicas; 2 are requested$`),
        );
        assert.ok(
            drifted.converge.some((l) => l.includes(`replicates ${masters[0].address}:6379`)),
            drifted.converge.join("\n"),
        );
        const text = cli("status").stdout;
        assert.match(text, /^drift:$\n^ {2}missing-replica: /m);
        assert.match(text, /^the next formation run would:$/m);
    });
});
