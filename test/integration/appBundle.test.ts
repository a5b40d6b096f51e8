/**
 * The bundle is what runs on Kubernetes (node server.js from a ConfigMap): it must be
 * small enough for a ConfigMap and run under plain node with no node_modules.
 */
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { BUNDLE_TARGET, MAX_BUNDLE_BYTES, bundleServer } from "../../components/app/bundle";
import { DEFAULT_NODE_IMAGE, nodeMajorOf } from "../../components/configKeys";
import { loopbackBlocks } from "../support/loopbackBlocks";

/** Its seed is an address on this block where nothing listens. */
const [BLOCK] = loopbackBlocks(__filename);

function get(url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        http.get(url, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        }).on("error", reject);
    });
}

function exited(child: ChildProcess): Promise<number | null> {
    return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

describe("hit-counter bundle (components/app/bundle.ts)", function () {
    this.timeout(30_000);
    let dir: string;
    let file: string;
    const children: ChildProcess[] = [];

    /** Starts the bundle (no Redis at its seed: it must still start, be healthy and not ready); resolves with its two ports. */
    async function startBundle(env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number; metricsPort: number }> {
        const child = spawn(process.execPath, [file], {
            cwd: dir,
            env: { PATH: process.env.PATH, REDIS_NODES: `127.0.${BLOCK}.250:6379`, HOST: "127.0.0.1", PORT: "0", ...env },
            stdio: ["ignore", "pipe", "pipe"],
        });
        children.push(child);
        const [port, metricsPort] = await new Promise<[number, number]>((resolve, reject) => {
            let out = "";
            child.stdout?.on("data", (c) => {
                out += c;
                const m = /listening on [^ ]+:(\d+) .*; metrics, health and readiness on [^ ]+:(\d+)\n/.exec(out);
                if (m) resolve([Number(m[1]), Number(m[2])]);
            });
            child.once("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
        });
        return { child, port, metricsPort };
    }

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hitcounter-bundle-"));
        file = path.join(dir, "server.js");
        fs.writeFileSync(file, bundleServer());
    });
    after(() => {
        for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("is one file well under the 1 MiB ConfigMap limit, built for the Node.js major of the default image", () => {
        const size = fs.statSync(file).size;
        assert.ok(size < MAX_BUNDLE_BYTES / 2, `bundle is ${size} bytes`);
        assert.strictEqual(BUNDLE_TARGET, `node${nodeMajorOf(DEFAULT_NODE_IMAGE)}`);
    });

    it("runs under plain node outside the repository: health on the metrics port, a bare readiness on the public one; drains on SIGTERM", async () => {
        const { child, port, metricsPort } = await startBundle({ METRICS_PORT: "0" });
        const health = await get(`http://127.0.0.1:${metricsPort}/healthz`);
        assert.deepStrictEqual(health, { status: 200, body: "ok\n" });
        assert.strictEqual((await get(`http://127.0.0.1:${port}/healthz`)).status, 404);
        assert.deepStrictEqual(await get(`http://127.0.0.1:${port}/readyz`), { status: 503, body: "not ready\n" });
        const detailed = await get(`http://127.0.0.1:${metricsPort}/readyz`);
        assert.strictEqual(detailed.status, 503);
        assert.match(detailed.body, /^not ready: Redis client is/);
        const code = exited(child);
        child.kill("SIGTERM");
        assert.strictEqual(await code, 0);
    });

    it("without METRICS_PORT, a second instance on the same host takes any free metrics port instead of failing (local clusters side by side)", async () => {
        const a = await startBundle();
        const b = await startBundle();
        assert.notStrictEqual(a.metricsPort, b.metricsPort);
        for (const s of [a, b]) assert.strictEqual((await get(`http://127.0.0.1:${s.metricsPort}/healthz`)).status, 200);
        const codes = [exited(a.child), exited(b.child)];
        a.child.kill("SIGTERM");
        b.child.kill("SIGTERM");
        assert.deepStrictEqual(await Promise.all(codes), [0, 0]);
    });

    it("with METRICS_PORT set, a port in use stops the start (exit 1) instead of moving the metrics where Prometheus does not look", async () => {
        const a = await startBundle({ METRICS_PORT: "0" });
        const taken = spawn(process.execPath, [file], {
            env: { PATH: process.env.PATH, REDIS_NODES: "a:1", HOST: "127.0.0.1", PORT: "0", METRICS_PORT: String(a.metricsPort) },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let err = "";
        taken.stderr?.on("data", (c) => (err += c));
        assert.strictEqual(await exited(taken), 1);
        assert.match(err, /EADDRINUSE/);
        a.child.kill("SIGTERM");
    });

    it("refuses a bad environment at start, naming the variable", async () => {
        const bad = spawn(process.execPath, [file], {
            env: { PATH: process.env.PATH, REDIS_NODES: "a:1", WAIT_REPLICAS: "-1" },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let err = "";
        bad.stderr?.on("data", (c) => (err += c));
        assert.strictEqual(await exited(bad), 2);
        assert.match(err, /WAIT_REPLICAS: expected an integer 0-16, got "-1"/);
    });
});
