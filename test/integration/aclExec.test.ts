/**
 * The stack's rotation steps (RedisAclRotation's phases, components/formation/rotate.ts) over
 * Kubernetes exec, as `pulumi up` runs them: real redis-cli in "pods" of the stand-in API server, each
 * with its users Secret mounted at /users, authenticating as admin from it. Phase 1 adds the new
 * passwords by hash while the pods' copies still hold the old ones; phase 3 waits until every pod's copy
 * is the new one (the kubelet updates a mounted Secret some time after it changes), sets masterauth from
 * it and leaves only the new passwords, the admin user's last.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { KubernetesTransport } from "../../components/formation/kubernetesTransport";
import { addPhase, prunePhase } from "../../components/formation/rotate";
import { phaseOf } from "../../components/formation/aclProvider";
import { ACL_USERS, AclUserName, passwordHash, planRotation } from "../../components/redis/acl";
import { LocalRedisNode, loopbackAddresses } from "../../local/redisNode";
import { FakeKubeApi, FakePod } from "../support/fakeKubeApi";
import { loopbackBlocks } from "../support/loopbackBlocks";

const [BLOCK] = loopbackBlocks(__filename);
const OLD = Object.fromEntries(ACL_USERS.map((u) => [u, `${u}-old-password-01`])) as Record<AclUserName, string>;
const NEW = Object.fromEntries(ACL_USERS.map((u) => [u, `${u}-new-password-02`])) as Record<AclUserName, string>;
const hashes = (p: Record<AclUserName, string>) => Object.fromEntries(ACL_USERS.map((u) => [u, passwordHash(p[u])]));

function cliAs(host: string, user: string, password: string, ...args: string[]): string {
    const r = spawnSync("redis-cli", ["--no-auth-warning", "-h", host, "-p", "6379", "--user", user, ...args], {
        encoding: "utf8",
        env: { ...process.env, REDISCLI_AUTH: password },
        timeout: 5000,
    });
    return `${r.stdout}${r.stderr}`.trim();
}

function writeUsersSecret(dir: string, passwords: Record<AclUserName, string>): void {
    for (const u of ACL_USERS) fs.writeFileSync(path.join(dir, `${u}.tmp`), passwords[u]);
    for (const u of ACL_USERS) fs.renameSync(path.join(dir, `${u}.tmp`), path.join(dir, u));
}

describe("password rotation over Kubernetes exec (the stack's RedisAclRotation phases; real redis-cli and redis-server)", function () {
    this.timeout(120_000);
    let dir: string;
    let usersDir: string;
    let nodes: LocalRedisNode[] = [];
    let api: FakeKubeApi;
    let transport: KubernetesTransport;

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "acl-exec-"));
        usersDir = path.join(dir, "users");
        fs.mkdirSync(usersDir);
        writeUsersSecret(usersDir, OLD);
        // Each node loads an ACL file, as the pods' start script writes it (ACL SAVE writes it back).
        const aclFile = (i: number) => path.join(dir, `redis-${i}`, "users.acl");
        const userLines = [
            // The bare node's own password (LocalRedisNode checks it started with it); the pods turn default off.
            `user default on #${passwordHash("bare-node-default-password")} ~* &* +@all`,
            ...ACL_USERS.map((u) => `user ${u} on #${passwordHash(OLD[u])} ~* &* +@all`),
        ];
        const hosts = loopbackAddresses(BLOCK, 3);
        hosts.forEach((_, i) => {
            fs.mkdirSync(path.dirname(aclFile(i)), { recursive: true });
            fs.writeFileSync(aclFile(i), userLines.join("\n") + "\n");
        });
        nodes = await LocalRedisNode.startAll(
            hosts.map((host, i) => ({
                host,
                dir: path.join(dir, `redis-${i}`),
                password: "bare-node-default-password",
                nodeTimeoutMs: 1000,
                extraConfig: [`aclfile ${aclFile(i)}`],
            })),
        );
        const pods: FakePod[] = nodes.map((n, i) => ({
            name: `redis-${i}`,
            ip: n.host,
            nodeName: `node-${i}`,
            ready: true,
            env: { REDIS_USERS_DIR: "/users" },
            mounts: [{ mountPath: "/users", local: usersDir }],
        }));
        api = await FakeKubeApi.start(
            "redis",
            pods,
            [0, 1, 2].map((i) => ({ name: `node-${i}` })),
        );
        transport = new KubernetesTransport({ kubeconfig: api.kubeconfig(), namespace: "redis", container: "redis" });
    });

    after(async () => {
        await transport?.close();
        await api?.close();
        await Promise.all(nodes.map((n) => n.stop()));
        fs.rmSync(dir, { recursive: true, force: true });
    });

    const run = (phase: "add" | "prune", log: string[]) => ({
        plan: phaseOf(planRotation(hashes(OLD), hashes(NEW)), phase),
        nodes: nodes.map((n, i) => ({ address: n.address, target: `redis-${i}` })),
        transport,
        log: (l: string) => log.push(l),
        moveClients: async () => undefined,
        timeoutMs: 30_000,
    });

    it("phase 1 adds the new passwords next to the old on every pod, authenticating with the pods' copies of the Secret (still the old ones)", async () => {
        await addPhase(run("add", []));
        for (const n of nodes) {
            for (const u of ACL_USERS) {
                assert.strictEqual(cliAs(n.host, u, OLD[u], "PING"), "PONG", `${n.host} ${u} old`);
                assert.strictEqual(cliAs(n.host, u, NEW[u], "PING"), "PONG", `${n.host} ${u} new`);
            }
        }
    });

    it("phase 3 waits for every pod's copy of the new Secret, sets masterauth from it, then leaves only the new passwords (admin's last); no exec carried a password", async () => {
        const log: string[] = [];
        const pruning = prunePhase(run("prune", log));
        // The kubelet updates the mounted Secret a while after it changed: nothing is pruned before.
        await new Promise((r) => setTimeout(r, 1500));
        assert.strictEqual(cliAs(nodes[0].host, "client", OLD.client, "PING"), "PONG", "pruned before the pods' copies were new");
        writeUsersSecret(usersDir, NEW);
        await pruning;
        assert.ok(
            log.some((l) => /waiting until every pod's copy of the users Secret holds admin's new password/.test(l)),
            log.join("\n"),
        );
        for (const n of nodes) {
            for (const u of ACL_USERS) {
                assert.match(cliAs(n.host, u, OLD[u], "PING"), /WRONGPASS/, `${n.host} ${u} old`);
                assert.strictEqual(cliAs(n.host, u, NEW[u], "PING"), "PONG", `${n.host} ${u} new`);
            }
            assert.strictEqual(cliAs(n.host, "admin", NEW.admin, "CONFIG", "GET", "masterauth"), `masterauth\n${NEW.replication}`);
        }
        const commands = JSON.stringify(api.execs);
        for (const p of [...Object.values(OLD), ...Object.values(NEW)]) assert.ok(!commands.includes(p), "a password in an exec request");
    });
});
