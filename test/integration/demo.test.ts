/**
 * `npm run demo` in the foreground (loopback block 127.0.103.x): whatever ends it (Ctrl-C, SIGTERM,
 * SIGHUP) and even with its stdout and stderr closed under it, it stops every process it started;
 * its default directory is private and unguessable and goes away with it; with --dir it deletes
 * only what it created and refuses a directory holding anything else.
 */
import * as assert from "assert";
import { ChildProcessWithoutNullStreams, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { isAlive } from "../../lib/process";
import { eventually } from "../../lib/poll";
import { Layout } from "../../local/layout";
import { ContainerProcess } from "../../local/pod";
import { runningProcesses } from "../../local/state";
import { ROOT, removeTempDirs, runCli, tempDir } from "../support/runtime";

const FLAGS = ["--block", "103", "--probe-period-scale", "0.2"];

interface RunningDemo {
    readonly child: ChildProcessWithoutNullStreams;
    readonly dir: string;
    readonly processes: ContainerProcess[];
    readonly exited: Promise<number | null>;
}

/** Starts the demo and resolves once it serves (its output says so), with every process it started. */
function startDemo(args: string[]): Promise<RunningDemo> {
    const child = spawn(
        process.execPath,
        ["-r", "ts-node/register/transpile-only", path.join(ROOT, "scripts", "local.ts"), "demo", ...args],
        {
            cwd: ROOT,
            env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: ROOT },
        },
    );
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    return new Promise((resolve, reject) => {
        let out = "";
        let errors = "";
        child.stderr.on("data", (d: Buffer) => (errors += d.toString()));
        child.stdout.on("data", (d: Buffer) => {
            out += d.toString();
            const dir = /state in (\S+)/.exec(out)?.[1];
            if (dir && out.includes("Press Ctrl-C")) resolve({ child, dir, processes: runningProcesses(new Layout(dir)), exited });
        });
        void exited.then((code) => reject(new Error(`demo exited (${code}) before serving:\n${out}\n${errors}`)));
    });
}

function refused(host: string): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ host, port: 6379 });
        s.once("connect", () => (s.destroy(), resolve(false)));
        s.once("error", () => resolve(true));
    });
}

async function assertNothingLeft(demo: RunningDemo): Promise<void> {
    assert.ok(
        await eventually(() => demo.processes.every((p) => !isAlive(p.pid)), { timeoutMs: 5000 }),
        "a process of the demo is still running",
    );
    // Six members and the surge pod (issue 15).
    for (let i = 0; i < 7; i++) assert.ok(await refused(`127.0.103.${11 + i}`), `127.0.103.${11 + i} still answers`);
}

describe("npm run demo: cleanup and privacy (real processes)", function () {
    this.timeout(120_000);
    after(removeTempDirs);

    it("Ctrl-C with stdout and stderr closed (the reader exited): every process stops, the private temporary directory goes", async () => {
        const demo = await startDemo(FLAGS);
        assert.match(path.basename(demo.dir), /^redis-demo-[A-Za-z0-9]{6}$/, "mkdtemp's unguessable name");
        assert.strictEqual(fs.statSync(demo.dir).mode & 0o777, 0o700);
        assert.deepStrictEqual(
            demo.processes.map((p) => p.container).sort(),
            [...Array(7).fill("failover-agent"), "hit-counter", ...Array(7).fill("redis")].sort(),
            "six Redis pods and the surge pod (redis and failover-agent each) and the app",
        );
        // The reader goes away (as `npm run demo | head` does): every later write of the demo fails with EPIPE.
        demo.child.stdout.destroy();
        demo.child.stderr.destroy();
        demo.child.kill("SIGINT");
        assert.strictEqual(await demo.exited, 0);
        await assertNothingLeft(demo);
        assert.ok(!fs.existsSync(demo.dir), "the demo's own directory was left behind");
    });

    it("with --dir it deletes only what it created (SIGHUP: the terminal closed)", async () => {
        const dir = path.join(tempDir("demo"), "mine");
        const demo = await startDemo(["--dir", dir, ...FLAGS]);
        fs.writeFileSync(path.join(dir, "notes.txt"), "written by the user meanwhile");
        demo.child.kill("SIGHUP");
        assert.strictEqual(await demo.exited, 0);
        await assertNothingLeft(demo);
        assert.deepStrictEqual(fs.readdirSync(dir), ["notes.txt"]);
    });

    it("refuses a --dir holding anything but its own state (a planted cluster.json): nothing adopted, started or deleted", async () => {
        const dir = tempDir("planted");
        fs.writeFileSync(
            path.join(dir, "cluster.json"),
            JSON.stringify({ masters: 3, replicasPerMaster: 1, password: "planted-password-123" }),
        );
        const r = runCli(["demo", "--dir", dir, ...FLAGS]);
        assert.strictEqual(r.status, 1);
        assert.match(
            r.stderr,
            /error: --dir: .* holds files that are not a local cluster's state \(cluster\.json\); use an empty or new directory/,
        );
        assert.deepStrictEqual(fs.readdirSync(dir), ["cluster.json"]);
        assert.ok(await refused("127.0.103.11"));
    });
});
