import * as querystring from "querystring";
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { V1NodeList, V1PodList } from "@kubernetes/client-node";
import { FORMATION_DEFAULTS } from "../../components/formation/defaults";
import { keyGroups } from "../../components/formation/migrate";
import { PASSWORD_ARG, REPLICATION_PASSWORD_ARG, USER_ARG, replyToText, splitAddress } from "../../components/formation/transport";
import {
    buildExecCommand,
    buildExecScript,
    execBatches,
    execUrlLength,
    parseExecResult,
    podsWithPlacement,
} from "../../components/formation/kubernetesTransport";

const MAX_EXEC_URL_CHARS = FORMATION_DEFAULTS.maxExecUrlChars;

describe("formation transports (components/formation/transport.ts, kubernetesTransport.ts, pure parts)", () => {
    /**
     * Runs an exec'd command as the pod would, with the real helper (components/redis/rediscli.sh) in
     * place of /scripts/rediscli.sh and a stand-in redis-cli on PATH that prints what it receives
     * (every argument in brackets, REDISCLI_AUTH first) and fails on FAIL, like `redis-cli -e` on an error reply.
     */
    function runInPod(cmd: string[], env: Record<string, string> = {}): { status: number | null; stdout: string } {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-cli-"));
        try {
            fs.writeFileSync(
                path.join(dir, "redis-cli"),
                '#!/bin/sh\nprintf "[%s]" "$REDISCLI_AUTH" "$@"; echo\nfor a; do [ "$a" = FAIL ] && exit 1; done; exit 0\n',
                { mode: 0o755 },
            );
            assert.strictEqual(cmd[3], "/scripts/rediscli.sh", "the helper travels as $0");
            const helper = path.join(__dirname, "..", "..", "components", "redis", "rediscli.sh");
            const r = spawnSync(cmd[0], [cmd[1], cmd[2], helper, ...cmd.slice(4)], {
                encoding: "utf8",
                env: { PATH: `${dir}:/usr/bin:/bin`, REDIS_PASSWORD: "pw", ...env },
            });
            return { status: r.status, stdout: r.stdout };
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }
    const CONNECT = "[--no-auth-warning][-h][127.0.0.1][-p][6379]";

    describe("buildExecCommand", () => {
        it("sources the pod's redis-cli helper and passes every argument as a positional parameter", () => {
            const cmd = buildExecCommand(["CLUSTER", "MEET", "10.0.0.2", "6379"]);
            assert.deepStrictEqual(cmd.slice(0, 2), ["sh", "-c"]);
            assert.match(cmd[2], /^\. "\$0"; PROBE_CLIENT_PORT=6379; set -e; rcli -e "\$\{1\}" "\$\{2\}" "\$\{3\}" "\$\{4\}"$/);
            assert.deepStrictEqual(cmd.slice(3), ["/scripts/rediscli.sh", "CLUSTER", "MEET", "10.0.0.2", "6379"]);
        });

        it("USER_ARG, PASSWORD_ARG and REPLICATION_PASSWORD_ARG become the pod's own values in the script, never an argument", () => {
            const cmd = buildExecCommand([
                "MIGRATE",
                "10.0.0.3",
                "6379",
                "",
                "0",
                "5000",
                "AUTH2",
                USER_ARG,
                PASSWORD_ARG,
                "KEYS",
                "a b",
                "c",
            ]);
            assert.ok(!cmd.includes(PASSWORD_ARG) && !cmd.includes(USER_ARG));
            assert.match(cmd[2], /"\$\{7\}" "\$\{REDIS_CLI_USER:-default\}" "\$REDISCLI_AUTH" "\$\{8\}"/);
            const masterauth = buildExecCommand(["CONFIG", "SET", "masterauth", REPLICATION_PASSWORD_ARG]);
            assert.ok(!masterauth.includes(REPLICATION_PASSWORD_ARG));
            assert.match(masterauth[2], /"\$\{3\}" "\$\(cat "\$REDIS_USERS_DIR\/replication"\)"$/);
        });

        it("runs as built: redis-cli gets the pod's connection, the password from its env, the arguments intact (quotes, spaces, $, empty)", () => {
            const r = runInPod(buildExecCommand(["SET", "k y", `"$HOME'\``, ""]), { REDIS_PASSWORD: "s3 cr$t" });
            assert.strictEqual(r.stdout, `[s3 cr$t]${CONNECT}[-e][SET][k y]["$HOME'\`][]\n`);
        });

        it("speaks TLS exactly when the pod has its certificates (REDIS_TLS_DIR), checking the server with its CA", () => {
            const r = runInPod(buildExecCommand(["PING"], 7000), { REDIS_TLS_DIR: "/tls" });
            assert.strictEqual(r.stdout, "[pw][--no-auth-warning][-h][127.0.0.1][-p][7000][--tls][--cacert][/tls/ca.crt][-e][PING]\n");
        });
    });

    describe("buildExecScript", () => {
        it("runs every command in one shell, each with its own arguments", () => {
            const r = runInPod(
                buildExecScript([
                    ["CLUSTER", "MEET", "10.0.0.2", "6379"],
                    ["CLUSTER", "MEET", "10.0.0.3", "6379"],
                ]),
            );
            assert.strictEqual(r.status, 0);
            assert.strictEqual(
                r.stdout,
                `[pw]${CONNECT}[-e][CLUSTER][MEET][10.0.0.2][6379]\n[pw]${CONNECT}[-e][CLUSTER][MEET][10.0.0.3][6379]\n`,
            );
        });

        it("stops at the first failing command and fails the exec", () => {
            const r = runInPod(buildExecScript([["PING"], ["FAIL"], ["NEVER"]]));
            assert.strictEqual(r.status, 1);
            assert.strictEqual(r.stdout, `[pw]${CONNECT}[-e][PING]\n[pw]${CONNECT}[-e][FAIL]\n`);
        });
    });

    describe("execBatches", () => {
        const setslots = Array.from({ length: 200 }, (_, i) => [
            "CLUSTER",
            "SETSLOT",
            String(16000 + i),
            "IMPORTING",
            "0123456789abcdef0123456789abcdef01234567",
        ]);
        const target = { namespace: "redis", pod: "redis-0", container: "redis" };

        it("keeps every exec URL within MAX_EXEC_URL_CHARS, the commands in order, none lost", () => {
            const batches = execBatches(setslots, target);
            assert.ok(batches.length >= 2 && batches.length <= 8, `${batches.length} batches`);
            assert.deepStrictEqual(batches.flat(), setslots);
            for (const b of batches) assert.ok(execUrlLength(buildExecScript(b), target) <= MAX_EXEC_URL_CHARS);
            // Greedy: adding the next command to a batch would have crossed the limit.
            for (let i = 0; i < batches.length - 1; i++)
                assert.ok(execUrlLength(buildExecScript([...batches[i], batches[i + 1][0]]), target) > MAX_EXEC_URL_CHARS);
        });

        it("counts the request path exactly as @kubernetes/client-node builds it: long names leave less room", () => {
            const script = buildExecScript(setslots.slice(0, 2));
            const query = querystring.stringify({
                stdout: true,
                stderr: true,
                stdin: false,
                tty: false,
                command: script,
                container: "redis",
            });
            assert.strictEqual(execUrlLength(script, target), `/api/v1/namespaces/redis/pods/redis-0/exec?${query}`.length);
            const long = { namespace: "n".repeat(63), pod: `${"p".repeat(60)}-10`, container: "c".repeat(63) };
            assert.strictEqual(execUrlLength(script, long) - execUrlLength(script, target), 58 + 56 + 58);
            const longBatches = execBatches(setslots, long);
            for (const b of longBatches) assert.ok(execUrlLength(buildExecScript(b), long) <= MAX_EXEC_URL_CHARS);
            // Greedy with the long names counted: one more command would not have fitted.
            for (let i = 0; i < longBatches.length - 1; i++)
                assert.ok(execUrlLength(buildExecScript([...longBatches[i], longBatches[i + 1][0]]), long) > MAX_EXEC_URL_CHARS);
        });

        it("a few commands stay one exec", () => {
            assert.strictEqual(execBatches(setslots.slice(0, 3), target).length, 1);
            assert.deepStrictEqual(execBatches([], target), []);
        });

        it("refuses a single command that cannot fit, saying how long it is", () => {
            assert.throws(
                () => execBatches([["MIGRATE", "10.0.0.3", "6379", "", "0", "10000", "KEYS", "k".repeat(9000)]], target),
                /^Error: command: MIGRATE with 7 arguments needs \d+ characters of exec URL in pod redis\/redis-0; at most 8000 fit$/,
            );
        });
    });

    it("keyGroups bounds the key-name characters of one MIGRATE, keeping order (a longer key goes alone)", () => {
        assert.deepStrictEqual(keyGroups(["aaaa", "bbbb", "cc", "d"], 8), [
            ["aaaa", "bbbb"],
            ["cc", "d"],
        ]);
        assert.deepStrictEqual(keyGroups(["x".repeat(10), "y", "z"], 8), [["x".repeat(10)], ["y", "z"]]);
        assert.deepStrictEqual(keyGroups([], 8), []);
    });

    describe("parseExecResult", () => {
        it("returns stdout without the trailing newline on success", () => {
            assert.strictEqual(parseExecResult({ status: "Success" }, "OK\n", ""), "OK");
        });
        it("throws redis-cli's error text on failure", () => {
            assert.throws(
                () =>
                    parseExecResult(
                        { status: "Failure", message: "command terminated with non-zero exit code" },
                        "",
                        "ERR Unknown node abc\n",
                    ),
                /ERR Unknown node abc/,
            );
        });
        it("falls back to the status message when there is no output", () => {
            assert.throws(() => parseExecResult({ status: "Failure", message: "container not found" }, "", ""), /container not found/);
        });
    });

    it("replyToText flattens replies like redis-cli's raw output", () => {
        assert.strictEqual(replyToText(["a", 1, null, Buffer.from("b")]), "a\n1\n\nb");
        assert.strictEqual(replyToText(null), "");
        assert.strictEqual(replyToText(7), "7");
    });

    it("splitAddress accepts host:port and refuses anything else", () => {
        assert.deepStrictEqual(splitAddress("127.0.1.11:6379"), ["127.0.1.11", 6379]);
        assert.throws(() => splitAddress("127.0.1.11"), /address: expected host:port, got "127.0.1.11"/);
    });

    it("podsWithPlacement maps pods to k8s nodes and zones, ordered by StatefulSet ordinal", () => {
        const pods: V1PodList = {
            items: [
                {
                    metadata: { name: "redis-10" },
                    spec: { nodeName: "n2", containers: [] },
                    status: { podIP: "10.1.0.10", conditions: [{ type: "Ready", status: "True" }] },
                },
                {
                    metadata: { name: "redis-2" },
                    spec: { nodeName: "n1", containers: [] },
                    status: { podIP: "10.1.0.2", conditions: [{ type: "Ready", status: "False" }] },
                },
                {
                    metadata: { name: "redis-3", deletionTimestamp: new Date() },
                    spec: { nodeName: "n1", containers: [] },
                    status: { podIP: "10.1.0.3" },
                },
                { metadata: { name: "redis-0" }, spec: { containers: [] }, status: {} },
            ],
        };
        const nodes: V1NodeList = {
            items: [
                { metadata: { name: "n1", labels: { "topology.kubernetes.io/zone": "europe-west1-b" } } },
                { metadata: { name: "n2", labels: {} } },
            ],
        };
        const out = podsWithPlacement(pods, nodes);
        assert.deepStrictEqual(out, [
            { name: "redis-0", ip: "", k8sNode: undefined, zone: undefined, ready: false },
            { name: "redis-2", ip: "10.1.0.2", k8sNode: "n1", zone: "europe-west1-b", ready: false },
            { name: "redis-10", ip: "10.1.0.10", k8sNode: "n2", zone: undefined, ready: true },
        ]);
    });
});
