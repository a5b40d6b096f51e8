/**
 * Bad input with real processes (loopback block 127.0.34.x): nothing is created and nothing
 * is lost. The program registers no resource on invalid config; the local CLI exits with a
 * clear message before starting any redis-server, and refuses to start over a running
 * cluster, which keeps serving its keys; the app exits with code 2 naming the variable.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Cluster } from "ioredis";
import { LocalCluster, STATE_FILE, startLocalCluster } from "../../local/cluster";
import { ProgramFailure, runProgram } from "../support/mocks";

const ROOT = path.resolve(__dirname, "../..");

function runTs(script: string, args: readonly string[], env: Record<string, string> = {}) {
    const r = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", script, ...args], {
        cwd: ROOT,
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: os.tmpdir(), ...env },
        timeout: 60_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function answersPing(host: string): boolean {
    const r = spawnSync("redis-cli", ["-h", host, "-p", "6379", "PING"], { encoding: "utf8", timeout: 2000 });
    return /PONG|NOAUTH/.test(r.stdout + r.stderr);
}

describe("bad input with real processes: nothing created, nothing lost", function () {
    this.timeout(60_000);
    const dirs: string[] = [];
    const tempDir = (label: string) => {
        const d = fs.mkdtempSync(path.join(os.tmpdir(), `badinput-${label}-`));
        dirs.push(d);
        return d;
    };
    after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

    for (const [key, value] of [
        ["redis:masters", "2"],
        ["redis:image", "redis 7"],
        ["redis-cluster-gke:kubeconfig", "/home/me/.kube/config"],
    ] as const) {
        it(`the program with ${key}=${JSON.stringify(value)} fails before registering any resource`, async () => {
            const config = { "redis-cluster-gke:target": "existing", [key]: value };
            const secrets = key.endsWith("kubeconfig")
                ? { [key]: value }
                : { "redis-cluster-gke:kubeconfig": "apiVersion: v1\nkind: Config\nclusters: []\n" };
            await assert.rejects(runProgram({ config, secrets }), (e: Error) => {
                assert.ok(e instanceof ProgramFailure, String(e));
                assert.deepStrictEqual(e.registered, []);
                assert.match(e.message, new RegExp(`${key}: `));
                return true;
            });
        });
    }

    it("`npm run local -- up --masters 2` exits 2 with the flag's rule and the usage, starting nothing and writing no state", () => {
        const dir = tempDir("cli");
        const r = runTs("scripts/local.ts", ["up", "--masters", "2", "--dir", dir, "--block", "34"]);
        assert.strictEqual(r.status, 2, r.stderr);
        assert.match(r.stderr, /--masters: expected an integer from 3 to 100, got "2"/);
        assert.match(r.stderr, /usage: npm run demo/);
        assert.ok(!fs.existsSync(path.join(dir, STATE_FILE)));
        assert.ok(!answersPing("127.0.34.11"), "a redis-server was started");
    });

    describe("`up` over a directory whose cluster is running", () => {
        let cluster: LocalCluster;
        before(async () => {
            cluster = await startLocalCluster({ masters: 3, replicasPerMaster: 0, dir: tempDir("running"), block: 34 });
        });
        after(async () => cluster?.stop());

        it("is refused with the command that stops it; the running cluster keeps its nodes and keys", async () => {
            const client = new Cluster(
                cluster.seeds.map((s) => ({ host: s.split(":")[0], port: 6379 })),
                { redisOptions: { password: cluster.password } },
            );
            try {
                await Promise.all(Array.from({ length: 100 }, (_, i) => client.set(`keep:${i}`, String(i))));
                const state = fs.readFileSync(path.join(cluster.dir, STATE_FILE), "utf8");

                const r = runTs("scripts/local.ts", ["up", "--masters", "3", "--replicas", "0", "--dir", cluster.dir, "--block", "34"]);

                assert.notStrictEqual(r.status, 0);
                assert.match(r.stderr, /dir: .* already has 3 running nodes .*stop them first \(`npm run local -- down --dir /);
                assert.strictEqual(
                    fs.readFileSync(path.join(cluster.dir, STATE_FILE), "utf8"),
                    state,
                    "cluster.json (the password) was overwritten",
                );
                assert.ok(cluster.nodes.every((n) => n.isAlive()));
                const values = await Promise.all(Array.from({ length: 100 }, (_, i) => client.get(`keep:${i}`)));
                assert.deepStrictEqual(
                    values,
                    Array.from({ length: 100 }, (_, i) => String(i)),
                );
            } finally {
                client.disconnect();
            }
        });
    });

    it("the app with a malformed REDIS_NODES exits 2 naming the variable, without listening", () => {
        const r = runTs("app/server.ts", [], { REDIS_NODES: "redis-0", PORT: "0" });
        assert.strictEqual(r.status, 2, r.stderr);
        assert.match(r.stderr, /hit-counter: invalid configuration: REDIS_NODES entry "redis-0": expected host:port/);
        assert.doesNotMatch(r.stdout, /listening/);
    });
});
