/**
 * The supervisor as a real detached process (loopback block 127.0.102.x): when it is SIGKILLed its
 * pods keep running, `down` still stops every one of them, and `up` on the same DIR brings the
 * same cluster back with its keys. Local mode is private: files 0600, directories 0700, and no
 * process (pods, probes, app, supervisor) carries the password on its command line.
 */
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { isAlive } from "../../lib/process";
import { Layout, readJson } from "../../local/layout";
import { readPods, runningProcesses } from "../../local/state";
import { ROOT, admin, lastJson, redisCli, removeTempDirs, runCli, tempDir } from "../support/runtime";

const BLOCK = "102";
const KEYS = 50;

interface UpJson {
    password: string;
    nodes: string[];
    pods: { name: string; address: string }[];
}

/** Every path under `dir` with its mode bits. */
function modes(dir: string): [string, number, "dir" | "file" | "socket"][] {
    const out: [string, number, "dir" | "file" | "socket"][] = [];
    for (const name of fs.readdirSync(dir)) {
        const p = path.join(dir, name);
        const st = fs.lstatSync(p);
        out.push([p, st.mode & 0o777, st.isDirectory() ? "dir" : st.isSocket() ? "socket" : "file"]);
        if (st.isDirectory()) out.push(...modes(p));
    }
    return out;
}

/** Adds the command line of every process on the machine to `seen`. */
function sampleCommandLines(seen: Set<string>): void {
    for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        try {
            seen.add(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " "));
        } catch {
            // gone meanwhile
        }
    }
}

/**
 * Runs the CLI while sampling every command line on the machine (redis-server rewrites its own, so
 * what matters is the short-lived ones: the start script before its exec, probes, redis-cli).
 */
async function runCliSampling(args: string[], seen: Set<string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(ROOT, "scripts", "local.ts"), ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: ROOT },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
        sampleCommandLines(seen);
        await new Promise((r) => setTimeout(r, 2));
    }
    return { status: await exited, stdout, stderr };
}

function refused(host: string): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ host, port: 6379 });
        s.once("connect", () => (s.destroy(), resolve(false)));
        s.once("error", () => resolve(true));
    });
}

describe("the supervisor process, and local mode's privacy (real processes)", function () {
    this.timeout(180_000);
    let dir: string;
    let layout: Layout;
    let up: UpJson;
    const commandLines = new Set<string>();

    before(async () => {
        dir = path.join(tempDir("supervisor"), "cluster");
        layout = new Layout(dir);
        const r = await runCliSampling(["up", "--dir", dir, "--block", BLOCK, "--probe-period-scale", "0.2"], commandLines);
        assert.strictEqual(r.status, 0, r.stderr);
        up = lastJson<UpJson>(r);
        for (let i = 0; i < KEYS; i++)
            assert.strictEqual(redisCli(up.pods[0].address, admin(up.password), "-c", "SET", `kept:{${i}}`, `v${i}`), "OK");
        for (const p of up.pods) redisCli(p.address, admin(up.password), "WAIT", "1", "2000");
    });
    after(() => {
        runCli(["down", "--dir", dir]);
        removeTempDirs();
    });

    it("keeps DIR private: directories 0700, files and the socket 0600, no password in a log", () => {
        const all = modes(dir);
        assert.ok(
            all.some(([p]) => p.includes(path.join("pvc", "data-redis-0", "appendonlydir"))),
            "the AOF directory exists",
        );
        const wrong = all.filter(([, mode, kind]) => mode !== (kind === "dir" ? 0o700 : 0o600));
        assert.deepStrictEqual(wrong, [], "modes other than 0700 (directories) and 0600 (files)");
        assert.strictEqual(fs.statSync(dir).mode & 0o777, 0o700);
        for (const log of fs.readdirSync(path.join(dir, "logs"))) {
            assert.ok(!fs.readFileSync(path.join(dir, "logs", log), "utf8").includes(up.password), `${log} holds the password`);
        }
    });

    it("no process shows the password on its command line: start scripts, redis-server, probes, app, supervisor, restarts", async () => {
        // A crashed pod restarts at once: its start script runs again meanwhile.
        const crashed = up.pods[up.pods.length - 2].name;
        const kill = await runCliSampling(["kill", crashed, "--dir", dir], commandLines);
        assert.strictEqual(kill.status, 0, kill.stderr);
        const deadline = Date.now() + 3000;
        while (Date.now() < deadline) {
            sampleCommandLines(commandLines);
            await new Promise((r) => setTimeout(r, 2));
        }
        const all = [...commandLines];
        assert.ok(
            all.some((c) => c.includes("node-start.sh redis-server")),
            "the sampling never caught a start script: it proves nothing",
        );
        assert.ok(
            all.some((c) => c.includes("probe.sh")),
            "the sampling never caught a probe: it proves nothing",
        );
        assert.deepStrictEqual(
            all.filter((c) => c.includes(up.password)),
            [],
        );
    });

    it("SIGKILL of the supervisor: its pods run on, verbs say no supervisor runs, `up` refuses, `down` stops every process it left", async () => {
        const lock = readJson<{ pid: number }>(layout.lock) as { pid: number };
        const pods = runningProcesses(layout);
        assert.strictEqual(pods.length, 15, "six Redis pods and the surge pod (redis and failover-agent each) and the app");
        process.kill(lock.pid, "SIGKILL");
        await new Promise((r) => setTimeout(r, 300));
        assert.ok(
            pods.every((p) => isAlive(p.pid)),
            "a pod died with its supervisor",
        );

        const status = runCli(["status", "--dir", dir]);
        assert.strictEqual(status.status, 1);
        assert.match(status.stderr, /error: no supervisor is running for /);
        const again = runCli(["up", "--dir", dir]);
        assert.strictEqual(again.status, 1);
        assert.match(
            again.stderr,
            /error: processes of an earlier run still run in .* \(redis-0 pid \d+, .*\): stop them with `npm run local -- down --dir /,
        );
        assert.ok(
            pods.every((p) => isAlive(p.pid)),
            "a refused `up` stopped a pod",
        );

        const down = runCli(["down", "--dir", dir]);
        assert.strictEqual(down.status, 0, down.stderr);
        assert.match(
            down.stdout,
            /no supervisor was running; stopped 15 processes it left \(redis-0, redis-1, redis-2, redis-3, redis-4, redis-5, redis-6, app\)/,
        );
        assert.deepStrictEqual(
            pods.filter((p) => isAlive(p.pid)).map((p) => `${p.pod} ${p.pid}`),
            [],
        );
        for (const p of up.pods) assert.ok(await refused(p.address), `${p.address} still answers`);
        assert.ok(!fs.existsSync(layout.socket) && !fs.existsSync(layout.lock), "the dead supervisor's socket and lock were left");
    });

    it("`up` on the stopped DIR brings the same cluster back: same pods, addresses, password and keys", () => {
        const r = runCli(["up", "--dir", dir]);
        assert.strictEqual(r.status, 0, r.stderr);
        const back = lastJson<UpJson>(r);
        assert.strictEqual(back.password, up.password);
        assert.deepStrictEqual(
            back.pods.map((p) => [p.name, p.address]),
            up.pods.map((p) => [p.name, p.address]),
        );
        assert.strictEqual(readPods(layout).pods.length, 8, "seven Redis pods (the surge pod among them) and the app");
        for (let i = 0; i < KEYS; i++)
            assert.strictEqual(redisCli(back.pods[0].address, admin(back.password), "-c", "GET", `kept:{${i}}`), `v${i}`);
    });
});
