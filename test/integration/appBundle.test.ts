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
import { MAX_BUNDLE_BYTES, bundleServer } from "../../components/app/bundle";

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
    let child: ChildProcess | undefined;

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hitcounter-bundle-"));
        file = path.join(dir, "server.js");
        fs.writeFileSync(file, bundleServer());
    });
    after(() => {
        if (child && child.exitCode === null) child.kill("SIGKILL");
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("is one file well under the 1 MiB ConfigMap limit", () => {
        const size = fs.statSync(file).size;
        assert.ok(size < MAX_BUNDLE_BYTES / 2, `bundle is ${size} bytes`);
    });

    it("runs under plain node outside the repository, answers /healthz and drains on SIGTERM", async () => {
        // No Redis at this seed: the process must still start, be healthy, and be not ready.
        child = spawn(process.execPath, [file], {
            cwd: dir,
            env: { PATH: process.env.PATH, REDIS_NODES: "127.0.20.250:6379", HOST: "127.0.0.1", PORT: "0" },
            stdio: ["ignore", "pipe", "pipe"],
        });
        const port = await new Promise<number>((resolve, reject) => {
            let out = "";
            child!.stdout!.on("data", (c) => {
                out += c;
                const m = /listening on [^ ]+:(\d+) /.exec(out);
                if (m) resolve(Number(m[1]));
            });
            child!.once("exit", (code) => reject(new Error(`exited ${code}: ${out}`)));
        });
        const health = await get(`http://127.0.0.1:${port}/healthz`);
        assert.deepStrictEqual(health, { status: 200, body: "ok\n" });
        const ready = await get(`http://127.0.0.1:${port}/readyz`);
        assert.strictEqual(ready.status, 503);
        const code = exited(child);
        child.kill("SIGTERM");
        assert.strictEqual(await code, 0);
    });

    it("refuses a bad environment at start, naming the variable", async () => {
        const bad = spawn(process.execPath, [file], {
            env: { PATH: process.env.PATH, REDIS_NODES: "a:1", WAIT_REPLICAS: "-1" },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let err = "";
        bad.stderr!.on("data", (c) => (err += c));
        assert.strictEqual(await exited(bad), 2);
        assert.match(err, /WAIT_REPLICAS: expected an integer 0-16, got "-1"/);
    });
});
