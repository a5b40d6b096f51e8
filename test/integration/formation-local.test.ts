/**
 * The local CLI (scripts/local.ts): flag validation, and up -> status -> down as a real
 * child process against real redis-server (loopback block 127.0.17.x).
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "../../scripts/local";
import { attachLocalNodes } from "../../local/cluster";

const ROOT = path.join(__dirname, "..", "..");

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(
        process.execPath,
        [require.resolve("ts-node/dist/bin.js"), "--transpile-only", path.join(ROOT, "scripts", "local.ts"), ...args],
        {
            cwd: ROOT,
            encoding: "utf8",
            timeout: 60_000,
        },
    );
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function get(url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        http.get(url, (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString()));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        }).on("error", reject);
    });
}

describe("local CLI (scripts/local.ts)", function () {
    this.timeout(90_000);

    describe("flags", () => {
        // Every refused flag is covered in test/unit/badinput.test.ts; here: defaults and the real exit path.
        it("defaults: 3 masters, 1 replica, block 1, ./.local/cluster", () => {
            const o = parseArgs(["up"]);
            assert.deepStrictEqual([o.masters, o.replicas, o.block, o.dir], [3, 1, 1, path.resolve(".local", "cluster")]);
        });

        it("accepts --flag=value", () => {
            assert.strictEqual(parseArgs(["up", "--masters=4"]).masters, 4);
        });

        it("a usage error exits 2 and prints usage", () => {
            const r = runCli(["up", "--masters", "1"]);
            assert.strictEqual(r.status, 2);
            assert.match(r.stderr, /error: --masters: expected an integer from 3 to 100, got "1"/);
            assert.match(r.stderr, /usage: npm run demo/);
        });
    });

    it("up prints JSON as its last stdout line, the app counts hits, status reports, down stops everything", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "formation-cli-"));
        let stopped = false;
        try {
            const up = runCli(["up", "--masters", "3", "--replicas", "1", "--dir", dir, "--block", "17"]);
            assert.strictEqual(up.status, 0, up.stderr);
            const lines = up.stdout.trim().split("\n");
            const summary = JSON.parse(lines[lines.length - 1]) as { nodes: string[]; password: string; app: string; shards: unknown[] };
            assert.strictEqual(summary.nodes.length, 6);
            assert.ok(summary.password.length >= 16);
            assert.strictEqual(summary.shards.length, 3);
            assert.match(up.stdout, /Shard map:/);

            const first = await get(`${summary.app}/`);
            const second = await get(`${summary.app}/`);
            assert.strictEqual(first.status, 200);
            const count = (body: string) => Number(/(\d+)/.exec(body)?.[1]);
            assert.strictEqual(count(second.body), count(first.body) + 1);

            const status = runCli(["status", "--dir", dir]);
            assert.strictEqual(status.status, 0, status.stderr);
            assert.strictEqual((status.stdout.match(/cluster_state:ok/g) ?? []).length, 6);
            assert.match(status.stdout, /ready/);

            const down = runCli(["down", "--dir", dir]);
            assert.strictEqual(down.status, 0, down.stderr);
            assert.match(down.stdout, /stopped 6 redis-server processes and the hit-counter app/);
            stopped = true;
            assert.deepStrictEqual(attachLocalNodes(dir), []);
        } finally {
            if (!stopped) runCli(["down", "--dir", dir]);
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
