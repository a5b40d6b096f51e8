/**
 * scripts/setup.sh checks that the Redis it finds (or installs) is 7 or newer, server and cli, and
 * says what to do otherwise. It runs here as a copy in a temporary project, with fake redis-server
 * and redis-cli first on PATH printing the versions under test, and fake apt-get, sudo and npm that
 * only record that they were called: nothing is installed.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SETUP = path.resolve(__dirname, "../../scripts/setup.sh");

/** What each tool prints for `--version`, as the real ones do. */
const versionLine = {
    "redis-server": (v: string) => `Redis server v=${v} sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0`,
    "redis-cli": (v: string) => `redis-cli ${v}`,
};

interface SetupRun {
    readonly status: number | null;
    readonly stderr: string;
    /** Fake tools that were called (apt-get, sudo, npm), in order. */
    readonly called: string[];
}

function runSetup(versions: { server: string; cli: string }): SetupRun {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "setup-sh-"));
    try {
        fs.mkdirSync(path.join(root, "scripts"));
        fs.copyFileSync(SETUP, path.join(root, "scripts", "setup.sh"));
        // node_modules newer than the lockfile: the script has no reason to run npm ci.
        fs.writeFileSync(path.join(root, "package-lock.json"), "{}\n");
        fs.mkdirSync(path.join(root, "node_modules", ".bin"), { recursive: true });
        fs.writeFileSync(path.join(root, "node_modules", ".package-lock.json"), "{}\n");
        // The pinned Node.js that setup.sh checks after the Redis tools: the one running this test.
        fs.symlinkSync(process.execPath, path.join(root, "node_modules", ".bin", "node"));
        const past = new Date(Date.now() - 60_000);
        fs.utimesSync(path.join(root, "package-lock.json"), past, past);

        const bin = path.join(root, "bin");
        const calls = path.join(root, "calls");
        fs.mkdirSync(bin);
        const tool = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
        tool("redis-server", `echo '${versionLine["redis-server"](versions.server)}'`);
        tool("redis-cli", `echo '${versionLine["redis-cli"](versions.cli)}'`);
        for (const name of ["apt-get", "sudo", "npm"]) tool(name, `echo ${name} >> '${calls}'; exit 1`);

        const r = spawnSync("bash", [path.join(root, "scripts", "setup.sh")], {
            encoding: "utf8",
            // The system directories as on a real machine, so only the Redis tools and the installers are fakes.
            env: { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: root },
            timeout: 20_000,
        });
        const called = fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").trim().split("\n") : [];
        return { status: r.status, stderr: r.stderr, called };
    } finally {
        fs.rmSync(root, { recursive: true, force: true });
    }
}

describe("scripts/setup.sh: Redis 7 or newer", () => {
    it("redis-server 6.0 on PATH (e.g. Ubuntu 22.04's apt) stops setup with the version found and what to do", () => {
        const r = runSetup({ server: "6.0.16", cli: "7.0.15" });
        assert.strictEqual(r.status, 1, r.stderr);
        assert.match(
            r.stderr,
            /^setup: redis-server 6\.0\.16 is installed \(\/.*\/redis-server\), but this project needs Redis 7 or newer/,
        );
        assert.match(r.stderr, /Redis's own APT repository/);
        assert.match(r.stderr, /come first on PATH, and run this script again/);
        assert.deepStrictEqual(r.called, [], "nothing may be installed or run past the failed check");
    });

    it("a redis-cli older than 7 is refused the same way, even with a new server", () => {
        const r = runSetup({ server: "7.2.4", cli: "6.2.14" });
        assert.strictEqual(r.status, 1, r.stderr);
        assert.match(r.stderr, /^setup: redis-cli 6\.2\.14 is installed .* needs Redis 7 or newer \(server and cli\)/);
    });

    it("a version it cannot read is refused rather than assumed", () => {
        const r = runSetup({ server: "unknown", cli: "7.0.15" });
        assert.strictEqual(r.status, 1, r.stderr);
        assert.match(r.stderr, /could not read the version of .*redis-server/);
    });

    for (const v of ["7.0.15", "7.2.7", "8.0.2", "10.0.0"]) {
        it(`Redis ${v} passes (major version compared as a number), with nothing installed`, () => {
            const r = runSetup({ server: v, cli: v });
            assert.strictEqual(r.status, 0, r.stderr);
            assert.deepStrictEqual(r.called, []);
        });
    }
});
