/**
 * Bad input with real processes (loopback block 127.0.34.x): nothing is created and nothing
 * is lost. The program constructs no resource on invalid config; the local CLI exits with a
 * clear message before starting any redis-server; the local runtime refuses unknown pods, a
 * second supervisor, a thaw of a running pod, verbs where nothing runs and foreign directories,
 * and the running cluster keeps its pods and keys; the app exits with code 2 naming the variable.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Layout } from "../../local/layout";
import { ProgramFailure, runProgram } from "../support/mocks";
import { ROOT, admin, lastJson, redisCli, removeTempDirs, runCli, status, tempDir } from "../support/runtime";

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
    this.timeout(120_000);
    after(removeTempDirs);

    for (const [key, value] of [
        ["redis:masters", "2"],
        ["redis:image", "redis 7"],
        ["redis-cluster-gke:kubeconfig", "/home/me/.kube/config"],
    ] as const) {
        it(`the program with ${key}=${JSON.stringify(value)} fails before constructing any resource`, async () => {
            const config = { "redis-cluster-gke:target": "existing", [key]: value };
            const secrets = key.endsWith("kubeconfig")
                ? { [key]: value }
                : { "redis-cluster-gke:kubeconfig": "apiVersion: v1\nkind: Config\nclusters: []\n" };
            await assert.rejects(runProgram({ config, secrets }), (e: Error) => {
                assert.ok(e instanceof ProgramFailure, String(e));
                assert.deepStrictEqual(e.constructed, []);
                assert.match(e.message, new RegExp(`${key}: `));
                return true;
            });
        });
    }

    it("`npm run local -- up --masters 2` exits 2 with the flag's rule and the usage, starting nothing and writing no state", () => {
        const dir = tempDir("cli");
        const r = runCli(["up", "--masters", "2", "--dir", dir, "--block", "34"]);
        assert.strictEqual(r.status, 2, r.stderr);
        assert.match(r.stderr, /--masters: expected an integer from 3 to 244, got "2"/);
        assert.match(r.stderr, /usage: npm run demo/);
        assert.deepStrictEqual(fs.readdirSync(dir), []);
        assert.ok(!answersPing("127.0.34.11"), "a redis-server was started");
    });

    describe("the local runtime's verbs: a clear error naming what is wrong, and nothing changed", () => {
        let dir: string;
        let layout: Layout;
        let password: string;
        /** What must not change: every pod's address, pid and restart count, and the keys. */
        const snapshot = async () => (await status(layout)).pods.map((p) => `${p.name} ${p.address} ${p.containers[0]?.pid} ${p.restarts}`);
        let initial: string[];

        before(async () => {
            dir = path.join(tempDir("verbs"), "cluster");
            const up = runCli(["up", "--dir", dir, "--block", "34", "--probe-period-scale", "0.2"]);
            assert.strictEqual(up.status, 0, up.stderr);
            layout = new Layout(dir);
            password = lastJson<{ password: string }>(up).password;
            const seed = lastJson<{ nodes: string[] }>(up).nodes[0].split(":")[0];
            for (let i = 0; i < 20; i++) assert.strictEqual(redisCli(seed, admin(password), "-c", "SET", `keep:{${i}}`, String(i)), "OK");
            initial = await snapshot();
        });
        after(() => runCli(["down", "--dir", dir]));
        afterEach(async () => {
            assert.deepStrictEqual(await snapshot(), initial, "a refused verb changed a pod");
            const seed = (await status(layout)).pods[0].address;
            for (let i = 0; i < 20; i++) assert.strictEqual(redisCli(seed, admin(password), "-c", "GET", `keep:{${i}}`), String(i));
        });

        it("an unknown pod name: refused, naming the pods there are", () => {
            const r = runCli(["kill", "redis-9", "--dir", dir]);
            assert.strictEqual(r.status, 1, r.stderr);
            assert.match(
                r.stderr,
                /^error: pod: no pod named "redis-9" in .*; its pods: redis-0, redis-1, redis-2, redis-3, redis-4, redis-5, redis-6, app$/m,
            );
            assert.match(runCli(["logs", "redis-9", "--dir", dir]).stderr, /error: logs: no log of a pod named "redis-9"/);
        });

        it("thaw of a pod that is not frozen: refused", () => {
            const r = runCli(["thaw", "redis-0", "--dir", dir]);
            assert.strictEqual(r.status, 1);
            assert.match(r.stderr, /^error: pod redis-0 is not frozen; nothing to thaw$/m);
        });

        it("a second `up` and a second supervisor on the same DIR: refused; the first keeps running, the state is untouched", () => {
            const files = ["cluster.json", "secrets.json", "pods.json", "supervisor.pid"].map((f) =>
                fs.readFileSync(path.join(dir, f), "utf8"),
            );
            const lock = JSON.parse(files[3]) as { pid: number };
            const up = runCli(["up", "--dir", dir]);
            assert.strictEqual(up.status, 1);
            assert.match(up.stderr, new RegExp(`^error: a supervisor \\(pid ${lock.pid}\\) already runs for ${dir}`, "m"));
            const second = spawnSync(
                process.execPath,
                ["-r", "ts-node/register/transpile-only", path.join(ROOT, "local", "supervisorMain.ts"), dir],
                {
                    cwd: ROOT,
                    encoding: "utf8",
                    timeout: 30_000,
                },
            );
            assert.strictEqual(second.status, 1);
            assert.match(second.stderr, new RegExp(`supervisor: a supervisor \\(pid ${lock.pid}\\) already runs for ${dir}`));
            assert.deepStrictEqual(
                ["cluster.json", "secrets.json", "pods.json", "supervisor.pid"].map((f) => fs.readFileSync(path.join(dir, f), "utf8")),
                files,
            );
        });

        it("`up --tls` on a cluster made without TLS: refused naming --tls (its clients speak plain text), the state untouched", () => {
            const files = ["cluster.json", "secrets.json"].map((f) => fs.readFileSync(path.join(dir, f), "utf8"));
            const up = runCli(["up", "--tls", "--dir", dir]);
            assert.strictEqual(up.status, 1);
            assert.match(
                up.stderr,
                /^error: --tls: .* holds a cluster without TLS \(its clients connect in plain text\); omit the flag or use another --dir$/m,
            );
            assert.deepStrictEqual(
                ["cluster.json", "secrets.json"].map((f) => fs.readFileSync(path.join(dir, f), "utf8")),
                files,
            );
        });

        it("a verb on a DIR where no supervisor runs: refused, saying how to start one", () => {
            const empty = tempDir("nothing");
            for (const args of [["status"], ["kill", "redis-0"], ["drill"]]) {
                const r = runCli([...args, "--dir", empty]);
                assert.strictEqual(r.status, 1, `${args.join(" ")}: ${r.stderr}`);
                assert.match(
                    r.stderr,
                    new RegExp(
                        `^error: no supervisor is running for ${empty} \\(start the cluster with \`npm run local -- up --dir ${empty}\`\\)$`,
                        "m",
                    ),
                );
            }
            assert.deepStrictEqual(fs.readdirSync(empty), [], "a refused verb wrote into the directory");
        });

        it("`up` on a directory holding other files: refused, nothing written or deleted", () => {
            const foreign = tempDir("foreign");
            fs.writeFileSync(path.join(foreign, "cluster.json"), '{"password":"planted"}');
            fs.writeFileSync(path.join(foreign, "notes.txt"), "mine");
            const r = runCli(["up", "--dir", foreign, "--block", "34"]);
            assert.strictEqual(r.status, 1);
            assert.match(
                r.stderr,
                /error: --dir: .* holds files that are not a local cluster's state \(notes\.txt\); use an empty or new directory/,
            );
            assert.deepStrictEqual(fs.readdirSync(foreign).sort(), ["cluster.json", "notes.txt"]);
        });
    });

    it("the app with a malformed REDIS_NODES exits 2 naming the variable, without listening", () => {
        const r = runTs("app/server.ts", [], { REDIS_NODES: "redis-0", PORT: "0" });
        assert.strictEqual(r.status, 2, r.stderr);
        assert.match(r.stderr, /hit-counter: invalid configuration: REDIS_NODES entry "redis-0": expected host:port/);
        assert.doesNotMatch(r.stdout, /listening/);
    });
});
