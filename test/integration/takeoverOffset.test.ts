/**
 * The two-replica offset rule of the failover agent, and the preStop handover with two replicas,
 * through the local pod runtime (3x2 over TLS, as shipped: real redis-server, the StatefulSet's own
 * pods, agents and hooks, every one of them connecting through rediscli.sh with the CA). The master that owns `hits` has two
 * replicas; the one with the lower address (the one every tie goes to) lags: its link is cut and
 * cannot come back (a wrong masterauth), so the hits sent next are confirmed by WAIT 1 on the
 * other replica only. The master's redis-server is then SIGKILLed within the agents' in-sync window, so both
 * replicas count as in sync and both agents decide. The lagging one must defer to its sibling,
 * which holds more, and the sibling takes over: every acknowledged count survives. Without the
 * rule the lagging replica wins the tie, is promoted, and the acknowledged hits are gone.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { waitUntil } from "../../lib/poll";
import { hitsCounter, masterOfHits, runDrill } from "../../local/drill";
import { DirectTransport } from "../../components/formation/transport";
import { PodView, call } from "../../local/protocol";
import { redisEndpoint } from "../../local/rules";
import { redisCliArgs } from "../../local/redisNode";
import { ClusterConfig, accessOf, caFileOf, readConfig, readPods } from "../../local/state";
import { Started } from "../../local/up";
import { loopbackBlocks } from "../support/loopbackBlocks";
import { FAST_TIMINGS, podOf, removeTempDirs, startInProcess, status, waitHealthy } from "../support/runtime";

const [BLOCK] = loopbackBlocks(__filename);
/** Hits sent while one replica lags: each must be confirmed by the other one (WAIT 1). */
const HITS_WHILE_LAGGING = 10;

/** One hit as JSON: its status and, when acknowledged, its count. */
function hit(url: string): Promise<{ status: number; count?: number }> {
    return new Promise((resolve, reject) => {
        const req = http.get(`${url}/`, { headers: { accept: "application/json" }, agent: false }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (body += c));
            res.on("end", () => {
                const s = res.statusCode ?? 0;
                resolve(s === 200 ? { status: s, count: (JSON.parse(body) as { hits: number }).hits } : { status: s });
            });
        });
        req.on("error", reject);
    });
}

const offsetOf = (info: string) => Number(/slave_repl_offset:(\d+)/.exec(info)?.[1] ?? NaN);

describe("takeover with two replicas: the one holding the most takes over (local pod runtime, 3x2, real redis-server)", function () {
    this.timeout(180_000);
    let cluster: Started;
    let config: ClusterConfig;
    let password: string;
    /** The replication user's password: what masterauth holds. */
    let replicationPassword: string;
    /** redis-cli over TLS against one node as admin; the password in the environment. */
    const redisCli = (host: string, ...args: string[]) => {
        const r = spawnSync("redis-cli", [...redisCliArgs(host, 6379, caFileOf(cluster.layout, config)), "--user", "admin", ...args], {
            encoding: "utf8",
            env: { ...process.env, REDISCLI_AUTH: password },
            timeout: 5000,
        });
        return (r.stdout ?? "").replace(/\r/g, "").trim();
    };
    const logFrom = (pod: string, mark: number) => fs.readFileSync(cluster.layout.log(pod), "utf8").slice(mark);
    const logLength = (pod: string) => fs.readFileSync(cluster.layout.log(pod), "utf8").length;

    before(async () => {
        cluster = await startInProcess(BLOCK, { ...FAST_TIMINGS, backoffInitialMs: 0, backoffMaxMs: 0 }, "offset", {
            replicas: 2,
            tls: true,
        });
        config = readConfig(cluster.layout) as ClusterConfig;
        const access = accessOf(cluster.layout, config);
        password = access.password;
        replicationPassword = access.replicationPassword as string;
        assert.ok(config.tls, "the cluster is not on TLS");
    });
    after(async () => {
        await cluster?.supervisor?.stop();
        removeTempDirs();
    });

    it("a hit that WAIT confirmed on one replica only survives the master's crash: the lagging replica defers", async () => {
        const before = await waitHealthy(cluster.layout);
        const master = await masterOfHits(cluster.layout);
        // The tie-break of the agents is the lower address (as awk compares strings): make that one lag.
        const [lagging, ahead] = before.pods
            .filter((p) => p.role === "replica" && p.master === master.name)
            .sort((a, b) => (redisEndpoint(a.address) < redisEndpoint(b.address) ? -1 : 1));
        assert.ok(lagging && ahead, `${master.name} has not two replicas`);
        const marks = { lagging: logLength(lagging.name), ahead: logLength(ahead.name) };

        const redisProcess = readPods(cluster.layout)
            .pods.find((p) => p.name === master.name)
            ?.processes.find((c) => c.container === "redis");
        assert.ok(redisProcess, `no redis process recorded for ${master.name}`);
        const url = (before.app as NonNullable<typeof before.app>).url;
        // From the cut to the crash must fit in the lagging agent's in-sync window (its master's last
        // 10 answers, about 1 s), or it would rightly call itself stale: every step below is one round trip.
        const transport = new DirectTransport(accessOf(cluster.layout, config), 2000);
        const info = (p: PodView) => transport.call(redisEndpoint(p.address), ["INFO", "replication"]);
        const { cutToCrashMs, behind, holding, answers } = await (async () => {
            try {
                await info(lagging); // connections opened before the clock starts
                await info(ahead);
                await info(master);
                const lag = ["CONFIG", "SET", "masterauth", "not-the-password"];
                assert.strictEqual(await transport.call(redisEndpoint(lagging.address), lag), "OK");
                const cutAt = Date.now();
                await transport.call(redisEndpoint(lagging.address), ["CLIENT", "KILL", "TYPE", "master"]);
                while (!/connected_slaves:1\b/.test(await info(master)))
                    assert.ok(Date.now() - cutAt < 5000, `${master.name} still lists two replicas`);
                const hits = await Promise.all(Array.from({ length: HITS_WHILE_LAGGING }, () => hit(url)));
                const infos = await Promise.all([info(lagging), info(ahead)]);
                const [l, a] = infos.map(offsetOf);
                // Checked before the crash, so a failed precondition leaves the cluster whole for the next test.
                assert.ok(l < a, `${lagging.name} is not behind (offset ${l}, ${ahead.name} ${a}):\n${infos.join("\n---\n")}`);
                // The crash: redis-server SIGKILLed while its kubelet is held (frozen), so no restarted
                // master races the agents' decision (a kubelet notices a crash only at its next relist anyway).
                await call(cluster.layout, { verb: "freeze", pod: master.name });
                process.kill(redisProcess.pid, "SIGKILL");
                return { cutToCrashMs: Date.now() - cutAt, behind: l, holding: a, answers: hits };
            } finally {
                await transport.close();
            }
        })();
        assert.deepStrictEqual(
            answers.map((a) => a.status),
            answers.map(() => 200),
            "hits were refused: WAIT 1 should be met by the replica in sync",
        );
        const acknowledged = Math.max(...answers.map((a) => a.count ?? 0));

        await waitUntil(
            `a replica of ${master.name} is master`,
            async () => {
                const s = await status(cluster.layout);
                return [lagging, ahead].some((p) => podOf(s, p.name).role === "master") ? undefined : "not yet";
            },
            { timeoutMs: 30_000, intervalMs: 50 },
        );
        assert.strictEqual(redisCli(lagging.address, "CONFIG", "SET", "masterauth", replicationPassword), "OK");
        await call(cluster.layout, { verb: "thaw", pod: master.name });
        const after = await waitHealthy(cluster.layout);
        const laggingLog = logFrom(lagging.name, marks.lagging);
        const aheadLog = logFrom(ahead.name, marks.ahead);
        const agentLines = (log: string) => log.split("\n").filter((l) => l.startsWith("failover-agent"));
        console.log(
            `      offsets ${lagging.name} ${behind}, ${ahead.name} ${holding}; acknowledged up to ${acknowledged}; ${cutToCrashMs} ms from the cut to the crash`,
        );
        console.log(`      ${[...agentLines(laggingLog), ...agentLines(aheadLog)].join("\n      ")}`);
        assert.strictEqual(podOf(after, ahead.name).role, "master", `${ahead.name}, which held every acknowledged hit, did not take over`);
        // The lagging agent defers: by the offset rule, or, when it decides a moment after its sibling
        // has already been promoted, because that sibling is master by then. Either way it never forces.
        const sibling = `sibling ${ahead.address.replace(/\./g, "\\.")}:6379`;
        assert.match(
            laggingLog,
            new RegExp(`${sibling} (holds as much or more .*: left to it|is already a master: left to Redis)`),
            `${lagging.name} did not defer to ${ahead.name} (if it says "not in sync", the kill came after its in-sync window)`,
        );
        assert.doesNotMatch(laggingLog, /CLUSTER FAILOVER FORCE/, `${lagging.name} forced a failover`);
        assert.match(aheadLog, /took over: master \d+ ms after the death was seen/);
        const counter = await hitsCounter(accessOf(cluster.layout, config), after.pods);
        assert.ok(counter >= acknowledged, `hits is ${counter} after the takeover, but ${acknowledged} was acknowledged`);
    });

    it("handover on delete with two replicas: the master hands its slots to a replica, coordinated, and stops once its sibling follows the new master", async () => {
        const before = await waitHealthy(cluster.layout);
        const master = await masterOfHits(cluster.layout);
        const replicas = before.pods.filter((p) => p.role === "replica" && p.master === master.name);
        const marks = new Map(before.pods.map((p) => [p.name, logLength(p.name)]));
        const r = await runDrill(cluster.layout, { mode: "delete", clients: 8, say: () => undefined });
        const old = logFrom(master.name, marks.get(master.name) ?? 0);
        const line = old.split("\n").find((l) => l.startsWith(`handover[${master.name}]`) && l.includes("handed over"));
        console.log(
            `      ${line}\n      longest write gap ${r.longestGapMs.toFixed(0)} ms; ${r.acknowledged} acknowledged, lost ${r.lost}`,
        );
        assert.ok(
            line,
            `${master.name}'s preStop did not hand over:\n${old
                .split("\n")
                .filter((l) => l.startsWith("handover"))
                .join("\n")}`,
        );
        assert.match(
            line,
            /every master agrees; 1 other replica\(s\) follow it after \d+ ms: stopping/,
            "it stopped before its sibling followed the new master",
        );
        const heir = replicas.find((p) => line.includes(`handed over to ${p.address}:6379`));
        assert.ok(heir, `the handover went to none of ${master.name}'s replicas: ${line}`);
        assert.match(logFrom(heir.name, marks.get(heir.name) ?? 0), /Manual failover user request accepted/);
        assert.doesNotMatch(logFrom(heir.name, marks.get(heir.name) ?? 0), /Forced failover/, "a handover is coordinated, never forced");
        assert.strictEqual(r.lost, 0);
        assert.ok(r.finalCounter >= r.acknowledged);
        await waitUntil(
            `${master.name} back as a replica`,
            async () => {
                const role = podOf(await status(cluster.layout), master.name).role;
                return role === "replica" ? undefined : `${role ?? "not answering"}`;
            },
            { timeoutMs: 30_000, intervalMs: 200 },
        );
    });
});
