/**
 * The kubelet of one local pod (local/pod.ts) with real, tiny processes (sh): init containers before
 * containers, graceful termination (preStop, SIGTERM, grace period, SIGKILL), a failed liveness probe
 * restarting the container, and the process group going with its container. No Redis needed.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { isAlive } from "../../lib/process";
import { eventually } from "../../lib/poll";
import { LocalPod } from "../../local/pod";
import { LocalContainer, LocalPodSpec, LocalProbe } from "../../local/podTemplate";
import { KUBELET_DEFAULTS } from "../../local/rules";
import { removeTempDirs, tempDir } from "../support/runtime";

const sh = (script: string) => ["sh", "-c", script];

function pod(dir: string, containers: LocalContainer[], over: Partial<LocalPodSpec> = {}): LocalPod {
    return new LocalPod(
        { name: "p-0", address: "127.0.0.1", initContainers: [], containers, terminationGracePeriodMs: 2000, skipped: [], ...over },
        {
            timings: { ...KUBELET_DEFAULTS, backoffInitialMs: 200, backoffMaxMs: 400 },
            logFile: path.join(dir, "p-0.log"),
            cwd: dir,
            changed: () => undefined,
        },
    );
}

const container = (name: string, argv: string[], over: Partial<LocalContainer> = {}): LocalContainer => ({
    name,
    image: "local",
    argv,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    ...over,
});

describe("a local pod's kubelet (real processes)", function () {
    this.timeout(30_000);
    let dir: string;
    const pods: LocalPod[] = [];
    beforeEach(() => (dir = tempDir("pod")));
    afterEach(async () => {
        await Promise.all(pods.splice(0).map((p) => p.terminate(100)));
    });
    after(removeTempDirs);
    const file = (name: string) => path.join(dir, name);
    const started = (p: LocalPod) => (pods.push(p), p);

    it("runs the init containers in order, each to completion (a failing one again after its back-off), then the containers", async () => {
        const p = started(
            pod(dir, [container("main", sh(`echo main >> ${file("order")}; exec sleep 60`))], {
                initContainers: [
                    container("first", sh(`echo first >> ${file("order")}`)),
                    // Fails on its first run, succeeds on the second.
                    container("second", sh(`echo second >> ${file("order")}; [ -e ${file("ran")} ] || { touch ${file("ran")}; exit 3; }`)),
                ],
            }),
        );
        await p.start();
        // The main container has run once it wrote its line.
        const wrote = () => fs.existsSync(file("order")) && fs.readFileSync(file("order"), "utf8").includes("main");
        assert.ok(await eventually(wrote, { timeoutMs: 5000 }));
        assert.strictEqual(p.status().phase, "Running");
        assert.deepStrictEqual(fs.readFileSync(file("order"), "utf8").trim().split("\n"), ["first", "second", "second", "main"]);
        assert.match(fs.readFileSync(file("p-0.log"), "utf8"), /init container second exited with 3; retrying in 0 ms/);
    });

    it("terminates gracefully: preStop first, then SIGTERM; a process that ignores SIGTERM is killed after the grace period", async () => {
        const p = started(
            pod(dir, [
                container("polite", sh(`trap 'echo term >> ${file("polite")}; exit 0' TERM; while :; do sleep 0.05; done`), {
                    preStop: { exec: sh(`echo prestop >> ${file("polite")}`) },
                }),
                container("stubborn", sh(`trap '' TERM; while :; do sleep 0.05; done`)),
            ]),
        );
        await p.start();
        await eventually(() => p.status().containers.every((c) => c.state === "running"), { timeoutMs: 5000 });
        const [polite, stubborn] = p.processes();
        await p.terminate();
        assert.deepStrictEqual(fs.readFileSync(file("polite"), "utf8").trim().split("\n"), ["prestop", "term"]);
        assert.ok(!isAlive(polite.pid) && !isAlive(stubborn.pid));
        assert.match(fs.readFileSync(file("p-0.log"), "utf8"), /container stubborn still running after the 2000 ms grace period: SIGKILL/);
        assert.strictEqual(p.status().restarts, 0, "a deleted pod's containers are not restarted");
    });

    it("a failed liveness probe restarts the container", async () => {
        const p = started(
            pod(dir, [
                container("worker", sh("while :; do sleep 0.05; done"), {
                    livenessProbe: {
                        action: { exec: sh(`[ ! -e ${file("sick")} ]`) },
                        initialDelayMs: 0,
                        periodMs: 100,
                        timeoutMs: 1000,
                        failureThreshold: 2,
                        successThreshold: 1,
                    },
                }),
            ]),
        );
        await p.start();
        await eventually(() => p.status().containers[0].state === "running", { timeoutMs: 5000 });
        fs.writeFileSync(file("sick"), "");
        assert.ok(await eventually(() => p.status().restarts === 1, { timeoutMs: 10_000 }), "the container was not restarted");
        fs.rmSync(file("sick"));
        assert.match(fs.readFileSync(file("p-0.log"), "utf8"), /container worker: liveness probe failed; restarting it/);
    });

    it("a probe in flight when the pod froze has no result: the frozen kubelet neither logs its failure nor restarts the container", async () => {
        // Each probe marks itself in flight for 0.6 s, then fails; the probe's process is not the pod's, so
        // the freeze does not stop it, and it ends while the pod is frozen.
        const failing: LocalProbe = {
            action: { exec: sh(`touch ${file("inflight")}; sleep 0.6; rm -f ${file("inflight")}; exit 1`) },
            initialDelayMs: 0,
            periodMs: 100,
            timeoutMs: 5000,
            failureThreshold: 1,
            successThreshold: 1,
        };
        const p = started(
            pod(dir, [container("worker", sh("while :; do sleep 0.05; done"), { livenessProbe: failing, readinessProbe: failing })]),
        );
        await p.start();
        assert.ok(await eventually(() => fs.existsSync(file("inflight")), { timeoutMs: 5000, intervalMs: 5 }), "no probe ran");
        p.freeze();
        const restartsAtFreeze = p.status().restarts;
        await new Promise((r) => setTimeout(r, 1500));
        assert.ok(!fs.existsSync(file("inflight")), "the probe in flight has ended while the pod was frozen");
        const log = fs.readFileSync(file("p-0.log"), "utf8");
        assert.doesNotMatch(log.slice(log.lastIndexOf("frozen (SIGSTOP)")), /probe of worker failed|restarting it/);
        assert.strictEqual(p.status().restarts, restartsAtFreeze);
        p.thaw();
    });

    it("a container that exits by itself is restarted, and what it forked dies with it (as with its cgroup)", async () => {
        const p = started(pod(dir, [container("crasher", sh(`sleep 60 & echo $! >> ${file("children")}; sleep 0.3; exit 1`))]));
        await p.start();
        assert.ok(await eventually(() => p.status().restarts >= 1, { timeoutMs: 5000 }));
        const first = Number(fs.readFileSync(file("children"), "utf8").split("\n")[0]);
        assert.ok(await eventually(() => !isAlive(first), { timeoutMs: 2000 }), "the forked child outlived its container");
        assert.match(fs.readFileSync(file("p-0.log"), "utf8"), /container crasher exited with code 1; restart 1 at once/);
    });
});
