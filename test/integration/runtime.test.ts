/**
 * The local pod runtime with real processes (loopback block 127.0.100.x, 3x1): pods run the
 * StatefulSet's own template, a deleted pod comes back at a new address with its data, `roll`
 * replaces every pod under load without losing an acknowledged hit, a frozen master is failed over
 * (its frozen kubelet restarts nothing) and turns replica when thawed, and crashes are restarted
 * with the kubelet's back-off. Timings are printed, never asserted; probes run 5x as often.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { Cluster } from "ioredis";
import { HitLoad, acknowledgedHitsLost, analyseAnswers } from "../../lib/hitLoad";
import { eventually, waitUntil } from "../../lib/poll";
import { DeleteResult, RestartRecord, RollResult, call } from "../../local/protocol";
import { readConfig, usersOf } from "../../local/state";
import { Started } from "../../local/up";
import { assertRedisCliCheckClean } from "../support/clusterChecks";
import { Credentials, FAST_TIMINGS, admin, podOf, redisCli, removeTempDirs, startInProcess, status, waitHealthy } from "../support/runtime";

const BLOCK = 100;
const BACKOFF = { backoffInitialMs: 400, backoffMaxMs: 800 };
const KEYS = 200;

describe("local pod runtime (real processes, 3x1)", function () {
    this.timeout(180_000);
    let cluster: Started;
    let password: Credentials;

    /** A cluster client seeded with the pods' current addresses (pods move: old seeds go stale). */
    async function withClient<T>(f: (c: Cluster) => Promise<T>): Promise<T> {
        const s = await status(cluster.layout);
        const client = new Cluster(
            s.pods.map((p) => ({ host: p.address, port: 6379 })),
            { redisOptions: { username: "admin", password: cluster.summary.password } },
        );
        try {
            return await f(client);
        } finally {
            client.disconnect();
        }
    }

    before(async () => {
        cluster = await startInProcess(BLOCK, { ...FAST_TIMINGS, ...BACKOFF }, "pods");
        password = admin(usersOf(cluster.layout, readConfig(cluster.layout) as NonNullable<ReturnType<typeof readConfig>>).admin);
        await withClient((c) => Promise.all(Array.from({ length: KEYS }, (_, i) => c.set(`runtime:{${i}}`, `v${i}`))));
        for (const m of cluster.summary.shards) redisCli(m.master.address.split(":")[0], password, "WAIT", "1", "2000");
    });
    after(async () => {
        await cluster?.supervisor?.stop();
        removeTempDirs();
    });

    /** When the kubelet logged `event` for `pod`, the first time after the line holding `after`. */
    function kubeletEventTime(pod: string, after: string, event: string): number {
        const lines = fs.readFileSync(cluster.layout.log(pod), "utf8").split("\n");
        const from = lines.findIndex((l) => l.includes(`pod ${pod}: ${after}`));
        const line = lines.slice(from).find((l) => l.startsWith("[kubelet ") && l.includes(`pod ${pod}: ${event}`));
        assert.ok(from >= 0 && line, `no "${event}" after "${after}" in the log of ${pod}`);
        return Date.parse(line.slice("[kubelet ".length, line.indexOf("]")));
    }

    async function assertKeysIntact(): Promise<void> {
        const values = await withClient((c) => Promise.all(Array.from({ length: KEYS }, (_, i) => c.get(`runtime:{${i}}`))));
        const wrong = values.filter((v, i) => v !== `v${i}`).length;
        assert.strictEqual(wrong, 0, `${wrong} of ${KEYS} keys lost or changed`);
    }

    it("runs each Redis pod from the StatefulSet's template: node-start.sh execs redis-server with the ConfigMap's conf on the pod's claim", async () => {
        const s = await waitHealthy(cluster.layout);
        const pod = podOf(s, "redis-0");
        const pid = pod.containers[0].pid as number;
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        assert.match(argv[0], /redis-server/, "node-start.sh execs redis-server in place (same pid)");
        const runtimeConf = fs.readFileSync(path.join(cluster.layout.emptyDir("redis-0", "run"), "redis.conf"), "utf8");
        assert.match(runtimeConf, new RegExp(`^include "${cluster.layout.volume("config")}/redis.conf"$`, "m"));
        assert.match(runtimeConf, new RegExp(`^dir "${cluster.layout.claim("data", "redis-0")}"$`, "m"));
        assert.match(runtimeConf, /^cluster-announce-hostname redis-0\.redis-headless\.redis\.svc\.cluster\.local$/m);
        const configMap = JSON.parse(fs.readFileSync(cluster.layout.objectFile("configmap"), "utf8")) as { data: Record<string, string> };
        assert.strictEqual(fs.readFileSync(path.join(cluster.layout.volume("config"), "redis.conf"), "utf8"), configMap.data["redis.conf"]);
        assert.ok(fs.existsSync(path.join(cluster.layout.claim("data", "redis-0"), "nodes.conf")));
        // The exporter's image is not the Redis image: it does not run locally, and the log says so.
        assert.match(fs.readFileSync(cluster.layout.log("redis-0"), "utf8"), /not run locally: exporter/);
    });

    it("a deleted pod comes back with its name and data at a new address, and its node rejoins", async () => {
        const before = await waitHealthy(cluster.layout);
        const target = before.pods.find((p) => p.role === "master") as (typeof before.pods)[number];
        const id = redisCli(target.address, password, "CLUSTER", "MYID");

        const r = await call<DeleteResult>(cluster.layout, { verb: "delete", pod: target.name });

        console.log(`      delete ${r.pod}: ${r.oldAddress} -> ${r.newAddress}, recreated after ${r.recreatedAfterMs} ms`);
        assert.notStrictEqual(r.newAddress, r.oldAddress);
        assert.ok(!before.pods.some((p) => p.address === r.newAddress), "the new address was another pod's");
        const after = await waitHealthy(cluster.layout);
        assert.strictEqual(podOf(after, target.name).address, r.newAddress);
        assert.strictEqual(podOf(after, target.name).restarts, 0, "a recreated pod starts with restart count 0");
        assert.strictEqual(redisCli(r.newAddress, password, "CLUSTER", "MYID"), id, "the pod kept its claim (nodes.conf): same node ID");
        const hosts = fs.readFileSync(cluster.layout.hosts, "utf8");
        assert.match(
            hosts,
            new RegExp(`^${target.name}\\.redis-headless\\.redis\\.svc\\.cluster\\.local ${r.newAddress.replace(/\./g, "\\.")}$`, "m"),
        );
        await assertKeysIntact();
    });

    it("freeze of a master: a replica takes over, its frozen kubelet restarts nothing; thaw: it rejoins as a replica", async () => {
        const before = await waitHealthy(cluster.layout);
        const master = before.pods.find(
            (p) => p.role === "master" && before.pods.some((r) => r.master === p.name),
        ) as (typeof before.pods)[number];
        const heir = before.pods.find((p) => p.master === master.name) as (typeof before.pods)[number];

        await call(cluster.layout, { verb: "freeze", pod: master.name });
        await waitUntil(
            `${heir.name} takes over from frozen ${master.name}`,
            async () => (podOf(await status(cluster.layout), heir.name).role === "master" ? undefined : "not yet"),
            {
                timeoutMs: 30_000,
                intervalMs: 100,
            },
        );
        // Longer than the liveness probe needs to restart a dead container (10 s x 0.2, threshold 3): none while frozen.
        await new Promise((r) => setTimeout(r, 7000));
        const frozen = podOf(await status(cluster.layout), master.name);
        assert.strictEqual(frozen.frozen, true);
        assert.strictEqual(frozen.restarts, master.restarts, "the kubelet of a frozen pod restarted its container");

        await call(cluster.layout, { verb: "thaw", pod: master.name });
        // The frozen kubelet ran no probe: a probe of a stopped redis-server would have failed (and been logged) after its 5 s timeout.
        const log = fs.readFileSync(cluster.layout.log(master.name), "utf8");
        const whileFrozen = log.slice(log.lastIndexOf(`pod ${master.name}: frozen`), log.lastIndexOf(`pod ${master.name}: thawed`));
        assert.doesNotMatch(whileFrozen, /probe of redis failed/, "a probe ran while the pod (and its kubelet) was frozen");
        await waitUntil(
            `${master.name} rejoins as a replica of ${heir.name}`,
            async () => {
                const p = podOf(await status(cluster.layout), master.name);
                return p.role === "replica" && p.master === heir.name && p.ready ? undefined : `${p.role} of ${p.master}, ready ${p.ready}`;
            },
            { timeoutMs: 30_000, intervalMs: 100 },
        );
        assert.match(redisCli(master.address, password, "INFO", "replication"), /master_link_status:up/);
        assert.strictEqual(podOf(await status(cluster.layout), master.name).restarts, master.restarts);
        await assertKeysIntact();
    });

    it("roll under durable load: highest ordinal first (the idle surge pod first), every pod at a new address, no acknowledged hit lost, redis-cli --cluster check clean", async () => {
        const before = await waitHealthy(cluster.layout);
        const load = new HitLoad({ url: `${cluster.summary.app}/`, clients: 4 });
        let r: RollResult;
        try {
            await new Promise((res) => setTimeout(res, 500));
            r = await call<RollResult>(cluster.layout, { verb: "roll" });
        } finally {
            await load.stop();
        }
        console.log(`      roll: ${r.steps.map((s) => `${s.pod} ${s.readyAfterMs} ms`).join(", ")}`);
        assert.deepStrictEqual(
            r.steps.map((s) => s.pod),
            ["redis-6", "redis-5", "redis-4", "redis-3", "redis-2", "redis-1", "redis-0"],
        );
        // Each replaced pod was Ready (its kubelet's readiness probe, from its log) before the next one was deleted.
        for (let i = 0; i + 1 < r.steps.length; i++) {
            const readyAt = kubeletEventTime(r.steps[i].pod, `created at ${r.steps[i].newAddress}`, "container redis ready");
            const nextDeletedAt = kubeletEventTime(r.steps[i + 1].pod, `created at ${r.steps[i + 1].oldAddress}`, "terminating");
            assert.ok(readyAt <= nextDeletedAt, `${r.steps[i + 1].pod} was deleted before ${r.steps[i].pod} was Ready`);
        }
        // Each pod's preStop ran before it stopped: a master handed its slots over, a replica stopped at once.
        const handovers = r.steps.map((s) => {
            const log = fs.readFileSync(cluster.layout.log(s.pod), "utf8");
            const life = log.slice(
                log.indexOf(`pod ${s.pod}: created at ${s.oldAddress}`),
                log.indexOf(`pod ${s.pod}: created at ${s.newAddress}`),
            );
            // The hook's last line says how it ended (the ones before say what it asked).
            const line = life
                .split("\n")
                .filter((l) => l.startsWith(`handover[${s.pod}]`))
                .pop();
            assert.ok(line, `no preStop handover line in ${s.pod}'s log before it stopped`);
            // A replica whose shard would be left with one copy has the surge pod stand in first; the surge pod
            // itself (first in the roll) is idle, or a replica that earlier tests' stops recruited.
            assert.match(
                line,
                /handed over to \S+ after \d+ ms; every master agrees|this node is slave(: stopping at once|; the surge node stands in for it)|a master without slots|^handover\[redis-6\].*this node is slave, its master's only online replica/,
            );
            return line;
        });
        console.log(`      ${handovers.join("\n      ")}`);
        assert.ok(
            handovers.filter((l) => l.includes("handed over")).length >= 3,
            "every shard's master was rolled, so each handed over once at least",
        );
        const after = await waitHealthy(cluster.layout);
        for (const p of after.pods) assert.notStrictEqual(p.address, podOf(before, p.name).address, `${p.name} kept its address`);
        const findings = analyseAnswers(load.answers);
        const counter = Number(await withClient((c) => c.get("hits")));
        assert.ok(findings.acknowledged > 0, "no hit was acknowledged during the roll");
        assert.strictEqual(
            acknowledgedHitsLost(findings, counter),
            0,
            `acknowledged hits lost (counter ${counter}, highest acknowledged ${findings.maxCount})`,
        );
        assertRedisCliCheckClean(`${after.pods[0].address}:6379`, password);
        await assertKeysIntact();
    });

    it("restart back-off: at once, then the initial delay doubling up to the cap; the restart count grows", async () => {
        const s = await waitHealthy(cluster.layout);
        const replica = s.pods.find((p) => p.role === "replica") as (typeof s.pods)[number];
        for (let i = 0; i < 4; i++) {
            await eventually(async () => podOf(await status(cluster.layout), replica.name).containers[0].state === "running", {
                timeoutMs: 10_000,
            });
            await call(cluster.layout, { verb: "kill", pod: replica.name });
        }
        await eventually(async () => podOf(await status(cluster.layout), replica.name).containers[0].state === "running", {
            timeoutMs: 10_000,
        });
        const restarts = await call<RestartRecord[]>(cluster.layout, { verb: "restarts", pod: replica.name });
        assert.deepStrictEqual(
            restarts.map((x) => x.delayMs),
            [0, BACKOFF.backoffInitialMs, BACKOFF.backoffMaxMs, BACKOFF.backoffMaxMs],
        );
        for (const x of restarts)
            assert.ok((x.restartedAt ?? 0) - x.exitedAt >= x.delayMs, `restarted before its back-off: ${JSON.stringify(x)}`);
        assert.strictEqual(podOf(await status(cluster.layout), replica.name).restarts, 4);
        await waitHealthy(cluster.layout);
    });
});
