/**
 * components/redis/node-start.sh run directly under every POSIX shell found here
 * (dash, bash --posix), on realistic Redis 7 nodes.conf files, with the resolver injected
 * through RESOLVE_CMD (a tiny script reading a hosts file).
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { POSIX_SHELLS, runNodeStart, writeHosts, writeResolver, writeUsers } from "./startscriptSupport";
import { ACL_USERS, passwordHash } from "../../components/redis/acl";
import { CONTAINER_SCRIPTS } from "../../components/redis/manifests";

// IDs and lines as a Redis 7.0 node writes them (taken from a real 3x1 cluster of this project).
const ID = {
    m0: "1509d089ec5cc2073c11b7ddb378e68ca05492fa",
    m1: "3d83e0ca56db6741697bcde33145901bab15a1fd",
    m2: "d3c550fb6fe1f864e6a8a4173ac52cc305c4a93f",
    r3: "0af4ca766af42c88b9586bc7fa7bb8a785a9da81",
    r4: "9ccf0c1ec93484ddc8c4ca102665f07715f129e8",
    r5: "74b621502d649dc4f910ef4275145a29f5fcf8dc",
};
const name = (i: number) => `redis-${i}.redis-headless.ns.svc.cluster.local`;

function nodesConf(ip: Record<keyof typeof ID, string>, opts: { r5Hostname?: boolean } = {}): string {
    const r5Host = opts.r5Hostname === false ? "" : name(5);
    return [
        `${ID.m2} ${ip.m2}:6379@16379,${name(2)} master - 0 1795588179855 5 connected 10922-16383`,
        `${ID.r3} ${ip.r3}:6379@16379,${name(3)} slave ${ID.m2} 0 1795588179854 5 connected`,
        `${ID.m0} ${ip.m0}:6379@16379,${name(0)} myself,master - 0 1795588179000 1 connected 0-5460`,
        `${ID.r5} ${ip.r5}:6379@16379,${r5Host} slave ${ID.m0} 0 1795588180000 1 connected`,
        `${ID.r4} ${ip.r4}:6379@16379,${name(4)} slave ${ID.m1} 0 1795588179854 3 connected`,
        `${ID.m1} ${ip.m1}:6379@16379,${name(1)} master - 0 1795588179854 3 connected 5461-10921`,
        "vars currentEpoch 6 lastVoteEpoch 0",
        "",
    ].join("\n");
}

const OLD = { m0: "10.4.0.10", m1: "10.4.1.11", m2: "10.4.2.12", r3: "10.4.0.13", r4: "10.4.1.14", r5: "10.4.2.15" };

/** The address field (ip:port@cport,hostname) of the line of node `id`. */
function addressOf(conf: string, id: string): string {
    const line = conf.split("\n").find((l) => l.startsWith(id + " "));
    assert.ok(line, `no line for ${id} in\n${conf}`);
    return line.split(" ")[1];
}

/** Every field but the address must survive byte for byte. */
function withoutAddresses(conf: string): string[] {
    return conf.split("\n").map((l) =>
        l.startsWith("vars")
            ? l
            : l
                  .split(" ")
                  .filter((_, i) => i !== 1)
                  .join(" "),
    );
}

it("at least one POSIX shell is installed to test the scripts with", () => assert.ok(POSIX_SHELLS.length > 0));

for (const shell of POSIX_SHELLS) {
    describe(`node-start.sh under ${shell.join(" ")}`, () => {
        let dir: string;
        let dataDir: string;
        let hostsFile: string;
        let env: Record<string, string>;
        // No spaces (the ACL file splits on them), but what redis.conf quoting must escape.
        const password = `p"w\\'and'$dollar`;

        beforeEach(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "startscript-"));
            dataDir = path.join(dir, "data");
            fs.mkdirSync(dataDir);
            fs.writeFileSync(path.join(dir, "shared.conf"), "port 6379\ncluster-enabled yes\n");
            hostsFile = path.join(dir, "hosts");
            env = {
                POD_NAME: "redis-0",
                POD_IP: "10.4.7.70",
                POD_HOSTNAME: name(0),
                ...writeUsers(dir, { replication: password }),
                REDIS_DATA_DIR: dataDir,
                REDIS_SHARED_CONF: path.join(dir, "shared.conf"),
                REDIS_RUNTIME_CONF: path.join(dir, "run", "redis.conf"),
                RESOLVE_CMD: writeResolver(dir, hostsFile),
            };
        });

        afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

        const confPath = () => path.join(dataDir, "nodes.conf");
        const readConf = () => fs.readFileSync(confPath(), "utf8");

        it("rewrites every peer's address from its resolved hostname, its own line from POD_IP, and nothing else", () => {
            const before = nodesConf(OLD);
            fs.writeFileSync(confPath(), before);
            writeHosts(hostsFile, {
                [name(1)]: "10.4.9.1",
                [name(2)]: "10.4.9.2",
                [name(3)]: "10.4.9.3",
                [name(4)]: "10.4.9.4",
                [name(5)]: "10.4.9.5",
            });

            const r = runNodeStart(shell, env);

            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.stdout.trim(), "exec-reached");
            const after = readConf();
            assert.strictEqual(addressOf(after, ID.m0), `10.4.7.70:6379@16379,${name(0)}`);
            assert.strictEqual(addressOf(after, ID.m1), `10.4.9.1:6379@16379,${name(1)}`);
            assert.strictEqual(addressOf(after, ID.m2), `10.4.9.2:6379@16379,${name(2)}`);
            assert.strictEqual(addressOf(after, ID.r3), `10.4.9.3:6379@16379,${name(3)}`);
            assert.strictEqual(addressOf(after, ID.r4), `10.4.9.4:6379@16379,${name(4)}`);
            assert.strictEqual(addressOf(after, ID.r5), `10.4.9.5:6379@16379,${name(5)}`);
            assert.deepStrictEqual(withoutAddresses(after), withoutAddresses(before));
            assert.match(r.stderr, /10\.4\.1\.11 -> 10\.4\.9\.1 \(resolved\)/);
        });

        it("two nodes that swapped addresses do not clobber each other", () => {
            fs.writeFileSync(confPath(), nodesConf(OLD));
            // redis-1 now has redis-2's old IP and vice versa; the others kept theirs.
            writeHosts(hostsFile, { [name(1)]: OLD.m2, [name(2)]: OLD.m1, [name(3)]: OLD.r3, [name(4)]: OLD.r4, [name(5)]: OLD.r5 });

            const r = runNodeStart(shell, { ...env, POD_IP: OLD.m0 });

            assert.strictEqual(r.status, 0, r.stderr);
            const after = readConf();
            assert.strictEqual(addressOf(after, ID.m1), `${OLD.m2}:6379@16379,${name(1)}`);
            assert.strictEqual(addressOf(after, ID.m2), `${OLD.m1}:6379@16379,${name(2)}`);
            assert.strictEqual(addressOf(after, ID.r3), `${OLD.r3}:6379@16379,${name(3)}`);
            assert.strictEqual(addressOf(after, ID.m0), `${OLD.m0}:6379@16379,${name(0)}`);
        });

        it("all six addresses shuffled among the nodes (own one included): each line gets its node's new address", () => {
            fs.writeFileSync(confPath(), nodesConf(OLD));
            writeHosts(hostsFile, { [name(1)]: OLD.r5, [name(2)]: OLD.m0, [name(3)]: OLD.m1, [name(4)]: OLD.m2, [name(5)]: OLD.r4 });

            const r = runNodeStart(shell, { ...env, POD_IP: OLD.r3 });

            assert.strictEqual(r.status, 0, r.stderr);
            const ips = Object.fromEntries(Object.entries(ID).map(([k, id]) => [k, addressOf(readConf(), id).split(":")[0]]));
            assert.deepStrictEqual(ips, { m0: OLD.r3, m1: OLD.r5, m2: OLD.m0, r3: OLD.m1, r4: OLD.m2, r5: OLD.r4 });
        });

        it("a peer whose name does not resolve keeps its last known IP; the map carries it for a line Redis left without address or hostname", () => {
            // First start: everything resolves, the map on the volume records every name's IP and node ID.
            fs.writeFileSync(confPath(), nodesConf(OLD));
            writeHosts(hostsFile, {
                [name(1)]: "10.4.9.1",
                [name(2)]: "10.4.9.2",
                [name(3)]: "10.4.9.3",
                [name(4)]: "10.4.9.4",
                [name(5)]: "10.4.9.5",
            });
            assert.strictEqual(runNodeStart(shell, env).status, 0);
            const map = fs.readFileSync(path.join(dataDir, "peer-ips.map"), "utf8");
            assert.match(map, new RegExp(`^${name(5).replace(/\./g, "\\.")} 10\\.4\\.9\\.5 ${ID.r5}$`, "m"));
            assert.match(map, new RegExp(`^${name(0).replace(/\./g, "\\.")} 10\\.4\\.7\\.70 ${ID.m0}$`, "m"));

            // Redis ran and wrote: r5's line lost its hostname and address (it was never reachable while
            // this node ran); then redis-4's and redis-5's pods are not scheduled yet, so neither name resolves.
            const conf = readConf()
                .replace(`10.4.9.5:6379@16379,${name(5)} slave`, ":0@0, slave,noaddr")
                .replace(`10.4.9.4:6379@16379`, `10.4.9.44:6379@16379`);
            fs.writeFileSync(confPath(), conf);
            writeHosts(hostsFile, { [name(1)]: "10.4.8.1", [name(2)]: "10.4.8.2", [name(3)]: "10.4.8.3" });

            const r = runNodeStart(shell, env);

            assert.strictEqual(r.status, 0, r.stderr);
            const after = readConf();
            // redis-4: the address Redis itself last knew (nodes.conf), the newest knowledge there is.
            assert.strictEqual(addressOf(after, ID.r4), `10.4.9.44:6379@16379,${name(4)}`);
            // redis-5: named through the map by its node ID, unresolvable, so the map's last IP,
            // with the ports every pod uses and without the noaddr flag, so Redis contacts it again.
            assert.strictEqual(addressOf(after, ID.r5), "10.4.9.5:6379@16379,");
            assert.match(after, new RegExp(`^${ID.r5} 10\\.4\\.9\\.5:6379@16379, slave ${ID.m0} `, "m"));
            assert.strictEqual(addressOf(after, ID.m1), `10.4.8.1:6379@16379,${name(1)}`);
            assert.match(r.stderr, /10\.4\.9\.5 \(unresolved, last known from map\)/);
            assert.match(fs.readFileSync(path.join(dataDir, "peer-ips.map"), "utf8"), new RegExp(`10\\.4\\.9\\.44 ${ID.r4}`));
        });

        it("a peer Redis marked noaddr (port 0: it found another node at the stale IP) gets its new address, the common ports and loses noaddr", () => {
            const conf = nodesConf(OLD).replace(`${OLD.m1}:6379@16379,${name(1)} master`, `:0@0,${name(1)} master,noaddr`);
            fs.writeFileSync(confPath(), conf);
            writeHosts(hostsFile, { [name(1)]: "10.4.9.1" });

            const r = runNodeStart(shell, env);

            assert.strictEqual(r.status, 0, r.stderr);
            const line = readConf()
                .split("\n")
                .find((l) => l.startsWith(ID.m1));
            assert.strictEqual(line, `${ID.m1} 10.4.9.1:6379@16379,${name(1)} master - 0 1795588179854 3 connected 5461-10921`);
        });

        it("Redis 7.2 lines (hostname then aux fields: tls-port, shard-id) keep every aux field; an empty hostname falls back to the map", () => {
            // The pinned image is Redis 7.2: `ip:port@cport,<hostname>,tls-port=0,shard-id=<id>`.
            const shard = (n: number) => `shard-id=${String(n).repeat(40)}`;
            const conf = [
                `${ID.m0} ${OLD.m0}:6379@16379,${name(0)},tls-port=0,${shard(1)} myself,master - 0 0 1 connected 0-8191`,
                `${ID.m1} ${OLD.m1}:6379@16379,${name(1)},tls-port=0,${shard(2)} master - 0 1795588179854 2 connected 8192-16383`,
                `${ID.r3} ${OLD.r3}:6379@16379,,tls-port=0,${shard(2)} slave ${ID.m1} 0 1795588179854 2 connected`,
                "vars currentEpoch 2 lastVoteEpoch 0",
                "",
            ].join("\n");
            fs.writeFileSync(confPath(), conf);
            fs.writeFileSync(path.join(dataDir, "peer-ips.map"), `${name(3)} ${OLD.r3} ${ID.r3}\n`);
            writeHosts(hostsFile, { [name(1)]: "10.4.9.1", [name(3)]: "10.4.9.3" });

            const r = runNodeStart(shell, env);

            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(
                readConf(),
                conf
                    .replace(`${OLD.m0}:6379`, "10.4.7.70:6379")
                    .replace(`${OLD.m1}:6379`, "10.4.9.1:6379")
                    .replace(`${OLD.r3}:6379`, "10.4.9.3:6379"),
            );
        });

        it("a line whose name now resolves through the map (no hostname in nodes.conf) gets the new address", () => {
            fs.writeFileSync(confPath(), nodesConf(OLD, { r5Hostname: false }));
            fs.writeFileSync(path.join(dataDir, "peer-ips.map"), `${name(5)} ${OLD.r5} ${ID.r5}\n`);
            writeHosts(hostsFile, { [name(5)]: "10.4.9.5" });

            const r = runNodeStart(shell, env);

            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(addressOf(readConf(), ID.r5), "10.4.9.5:6379@16379,");
        });

        it("writes the runtime redis.conf with mode 0600: include, data dir, ACL file, replication user and password escaped, announced IP and hostname", () => {
            const r = runNodeStart(shell, env);

            assert.strictEqual(r.status, 0, r.stderr);
            const file = env.REDIS_RUNTIME_CONF;
            assert.strictEqual(fs.statSync(file).mode & 0o777, 0o600);
            assert.strictEqual(
                fs.readFileSync(file, "utf8"),
                [
                    `include "${env.REDIS_SHARED_CONF}"`,
                    `dir "${dataDir}"`,
                    `aclfile "${dataDir}/users.acl"`,
                    "masteruser replication",
                    `masterauth "p\\"w\\\\'and'$dollar"`,
                    "cluster-announce-ip 10.4.7.70",
                    `cluster-announce-hostname ${name(0)}`,
                    "",
                ].join("\n"),
            );
        });

        it("with REDIS_TLS_DIR the runtime conf also points Redis at the Secret's certificate, key and CA", () => {
            const tlsDir = path.join(dir, "tls secret");
            fs.mkdirSync(tlsDir);
            for (const f of ["tls.crt", "tls.key", "ca.crt"]) fs.writeFileSync(path.join(tlsDir, f), "pem");
            const r = runNodeStart(shell, { ...env, REDIS_TLS_DIR: tlsDir });

            assert.strictEqual(r.status, 0, r.stderr);
            const lines = fs.readFileSync(env.REDIS_RUNTIME_CONF, "utf8").trimEnd().split("\n");
            assert.deepStrictEqual(lines.slice(-3), [
                `tls-cert-file "${tlsDir}/tls.crt"`,
                `tls-key-file "${tlsDir}/tls.key"`,
                `tls-ca-cert-file "${tlsDir}/ca.crt"`,
            ]);
        });

        it("refuses TLS half set up: a TLS Secret without its key, or a TLS redis.conf without REDIS_TLS_DIR", () => {
            const tlsDir = path.join(dir, "tls");
            fs.mkdirSync(tlsDir);
            for (const f of ["tls.crt", "ca.crt"]) fs.writeFileSync(path.join(tlsDir, f), "pem");
            const noKey = runNodeStart(shell, { ...env, REDIS_TLS_DIR: tlsDir });
            assert.strictEqual(noKey.status, 64);
            assert.match(noKey.stderr, /REDIS_TLS_DIR .*tls has no readable tls\.key \(the TLS Secret must be mounted there\)/);
            fs.writeFileSync(env.REDIS_SHARED_CONF, "port 0\ntls-port 6379\ncluster-enabled yes\n");
            const noDir = runNodeStart(shell, env);
            assert.strictEqual(noDir.status, 64);
            assert.match(noDir.stderr, /REDIS_TLS_DIR is not set, but .*shared\.conf turns TLS on/);
            assert.doesNotMatch(noKey.stdout + noDir.stdout, /exec-reached/);
            assert.ok(!fs.existsSync(env.REDIS_RUNTIME_CONF));
        });

        it("a new node (no nodes.conf) creates none, records its own address and execs the command with its arguments", () => {
            const r = runNodeStart(shell, env, ["sh", "-c", 'echo "args: $*"', "sh", "redis-server", "/run/redis/redis.conf"]);

            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.stdout.trim(), "args: redis-server /run/redis/redis.conf");
            assert.ok(!fs.existsSync(confPath()));
            assert.strictEqual(fs.readFileSync(path.join(dataDir, "peer-ips.map"), "utf8"), `${name(0)} 10.4.7.70 -\n`);
        });

        it("the exec'd command's exit status is the script's (redis-server failing is not hidden)", () => {
            assert.strictEqual(runNodeStart(shell, env, ["sh", "-c", "exit 7"]).status, 7);
        });

        const badEnv: Array<[string, Record<string, string | undefined>, RegExp]> = [
            ["POD_IP missing", { POD_IP: undefined }, /POD_IP must be this pod's IPv4 address/],
            ["POD_IP not IPv4", { POD_IP: "10.4.300.1" }, /POD_IP must be this pod's IPv4 address .* got '10\.4\.300\.1'/],
            ["POD_HOSTNAME missing", { POD_HOSTNAME: undefined }, /POD_HOSTNAME must be this pod's stable DNS name/],
            ["POD_HOSTNAME with a space", { POD_HOSTNAME: "redis 0" }, /POD_HOSTNAME must be .* got 'redis 0'/],
            [
                "REDIS_USERS_DIR missing",
                { REDIS_USERS_DIR: undefined },
                /REDIS_USERS_DIR '' is not a directory: mount the users Secret there/,
            ],
            [
                "REDIS_ACL_TEMPLATE missing",
                { REDIS_ACL_TEMPLATE: "/nonexistent/users.acl" },
                /REDIS_ACL_TEMPLATE '\/nonexistent\/users\.acl' is not readable/,
            ],
            ["data dir missing", { REDIS_DATA_DIR: "/nonexistent/data" }, /REDIS_DATA_DIR \/nonexistent\/data is not a directory/],
            [
                "shared conf missing",
                { REDIS_SHARED_CONF: "/nonexistent/redis.conf" },
                /REDIS_SHARED_CONF \/nonexistent\/redis\.conf is not readable/,
            ],
        ];
        for (const [what, change, message] of badEnv) {
            it(`refuses to start with ${what}: clear message, nodes.conf untouched, command not run`, () => {
                const before = nodesConf(OLD);
                fs.writeFileSync(confPath(), before);
                writeHosts(hostsFile, { [name(1)]: "10.4.9.1" });
                const e: Record<string, string> = { ...env };
                for (const [k, v] of Object.entries(change)) {
                    if (v === undefined) delete e[k];
                    else e[k] = v;
                }

                const r = runNodeStart(shell, e);

                assert.strictEqual(r.status, 64);
                assert.match(r.stderr, message);
                assert.doesNotMatch(r.stdout, /exec-reached/);
                assert.strictEqual(readConf(), before);
                assert.ok(!fs.existsSync(env.REDIS_RUNTIME_CONF));
            });
        }

        const aclLines = () => fs.readFileSync(path.join(dataDir, "users.acl"), "utf8").trimEnd().split("\n");
        const lineOf = (user: string) => aclLines().find((l) => l.startsWith(`user ${user} `)) ?? "";

        it("writes the ACL file (0600, on the volume): default off, each user's template rules and the sha256 of its password, never the password", () => {
            const r = runNodeStart(shell, env);

            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(fs.statSync(path.join(dataDir, "users.acl")).mode & 0o777, 0o600);
            assert.strictEqual(aclLines()[0], "user default off resetpass resetkeys resetchannels -@all");
            assert.deepStrictEqual(
                aclLines().map((l) => l.split(" ")[1]),
                ["default", ...ACL_USERS],
            );
            const template = fs.readFileSync(env.REDIS_ACL_TEMPLATE, "utf8").trimEnd().split("\n");
            for (const user of ACL_USERS) {
                const own = fs.readFileSync(path.join(env.REDIS_USERS_DIR, user), "utf8");
                const rules = template.find((l) => l.startsWith(`user ${user} `));
                assert.strictEqual(lineOf(user), `${rules} #${passwordHash(own)}`);
                assert.ok(!fs.readFileSync(path.join(dataDir, "users.acl"), "utf8").includes(own), `${user}'s password in the file`);
            }
        });

        it("a restart in the middle of a rotation keeps the hashes the node's previous ACL file held (old and new both work)", () => {
            const old = passwordHash(fs.readFileSync(path.join(env.REDIS_USERS_DIR, "hitcounter"), "utf8"));
            assert.strictEqual(runNodeStart(shell, env).status, 0);
            // A rotation's phase 1 added the new password and saved it (ACL SAVE writes the file); the Secret now holds the new one.
            const added = passwordHash("the-new-hitcounter-password-01");
            fs.writeFileSync(
                path.join(dataDir, "users.acl"),
                aclLines()
                    .map((l) => (l.startsWith("user hitcounter ") ? `${l} #${added}` : l))
                    .join("\n") + "\n",
            );
            fs.writeFileSync(path.join(env.REDIS_USERS_DIR, "hitcounter"), "the-new-hitcounter-password-01");

            const r = runNodeStart(shell, env);

            assert.strictEqual(r.status, 0, r.stderr);
            assert.match(lineOf("hitcounter"), new RegExp(` #${added} #${old}$`));
            assert.match(r.stderr, /user hitcounter: the previous ACL file also accepts #[0-9a-f]{8}… \(a rotation in progress\)/);
            // Phase 3 pruned and saved: only the new hash; the next start keeps only it.
            fs.writeFileSync(
                path.join(dataDir, "users.acl"),
                aclLines()
                    .map((l) => (l.startsWith("user hitcounter ") ? l.replace(` #${old}`, "") : l))
                    .join("\n") + "\n",
            );
            assert.strictEqual(runNodeStart(shell, env).status, 0);
            assert.match(lineOf("hitcounter"), new RegExp(` #${added}$`));
        });

        it("refuses a users Secret without a user's password, or with one that has a space: clear message, nothing started", () => {
            fs.rmSync(path.join(env.REDIS_USERS_DIR, "exporter"));
            const missing = runNodeStart(shell, env);
            assert.strictEqual(missing.status, 64);
            assert.match(missing.stderr, /the users Secret has no password for user 'exporter'/);
            fs.writeFileSync(path.join(env.REDIS_USERS_DIR, "exporter"), "two words-0123456789");
            const spaced = runNodeStart(shell, env);
            assert.strictEqual(spaced.status, 64);
            assert.match(spaced.stderr, /the password of user 'exporter' .* must be one line without spaces/);
            assert.doesNotMatch(missing.stdout + spaced.stdout, /exec-reached/);
            assert.ok(!fs.existsSync(env.REDIS_RUNTIME_CONF));
        });

        it("without a command it prints usage and fails", () => {
            const r = runNodeStart(shell, env, []);
            assert.strictEqual(r.status, 64);
            assert.match(r.stderr, /usage: node-start\.sh <command>/);
        });
    });
}

describe("every container script is POSIX sh", () => {
    for (const file of CONTAINER_SCRIPTS) {
        for (const shell of POSIX_SHELLS) {
            it(`${file} parses under ${shell.join(" ")} -n`, () => {
                const r = spawnSync(shell[0], [...shell.slice(1), "-n", path.resolve(__dirname, "../../components/redis", file)], {
                    encoding: "utf8",
                });
                assert.strictEqual(r.status, 0, r.stderr);
            });
        }
    }
});
