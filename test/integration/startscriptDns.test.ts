/**
 * components/redis/node-start.sh against a cluster DNS that never answers, the way a full restart
 * finds kube-dns: through the script's real lookup (getent, glibc's resolver), not RESOLVE_CMD.
 *
 * Each run gets its own user, network and mount namespaces (unshare), so nothing of this machine
 * changes: loopback plus one more address on it (glibc's AI_ADDRCONFIG skips IPv4 lookups on a host
 * with loopback only, and a pod has eth0), a resolv.conf like a GKE pod's (search list, ndots:5,
 * glibc's default 5 s x 2 attempts) pointing at 127.0.130.53, nsswitch `hosts: files dns`, and on
 * 127.0.130.53:53 a UDP socket that records every query and never answers (or answers from a map).
 * Loopback block 130; the namespace has its own loopback, so other tests never see it.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NODE_START_SCRIPT, writeUsers } from "./startscriptSupport";

const DNS_ADDRESS = "127.0.130.53";
/** A second address on the namespace's loopback: glibc then counts the host as having IPv4. */
const HOST_ADDRESS = "127.0.130.1";

/** The fake cluster DNS: logs each question (name, type); answers A queries for names in the map, or stays silent. */
const FAKE_DNS = `
const dgram = require("dgram"), fs = require("fs");
const [log, ready, mapFile] = process.argv.slice(2);
const answers = mapFile ? JSON.parse(fs.readFileSync(mapFile, "utf8")) : {};
const socket = dgram.createSocket("udp4");
socket.on("message", (m, from) => {
    const labels = [];
    let i = 12;
    while (m[i] !== 0) { labels.push(m.subarray(i + 1, i + 1 + m[i]).toString()); i += m[i] + 1; }
    const name = labels.join("."), type = m.readUInt16BE(i + 1), questionEnd = i + 5;
    fs.appendFileSync(log, name + " " + type + "\\n");
    const ip = answers[name];
    if (!ip || type !== 1) return;
    const header = Buffer.from([m[0], m[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, ...ip.split(".").map(Number)]);
    socket.send(Buffer.concat([header, m.subarray(12, questionEnd), answer]), from.port, from.address);
});
socket.bind(53, "${DNS_ADDRESS}", () => fs.writeFileSync(ready, ""));
`;

/** As a GKE pod's: kube-dns, its namespace's search list, ndots:5, glibc's default timeouts. */
const GKE_LIKE_RESOLV_CONF = [
    "search ns.svc.cluster.local svc.cluster.local cluster.local c.acme.internal google.internal",
    `nameserver ${DNS_ADDRESS}`,
    "options ndots:5",
    "",
].join("\n");

const peerName = (i: number) => `redis-${i}.redis-headless.ns.svc.cluster.local`;
const id = (i: number) => i.toString(16).padStart(40, "a");
const oldIp = (i: number) => `10.4.0.${10 + i}`;

/** A Redis 7 nodes.conf of `nodes` nodes; node 0 is this pod. */
function nodesConf(nodes: number): string {
    const lines = Array.from({ length: nodes }, (_, i) => {
        const flags = i === 0 ? "myself,master" : i % 2 === 1 ? "master" : "slave";
        const master = flags === "slave" ? id(i - 1) : "-";
        return `${id(i)} ${oldIp(i)}:6379@16379,${peerName(i)} ${flags} ${master} 0 1795588179855 ${i + 1} connected`;
    });
    return [...lines, "vars currentEpoch 6 lastVoteEpoch 0", ""].join("\n");
}

interface DnsRun {
    readonly status: number | null;
    readonly stdout: string;
    readonly stderr: string;
    /** `name type` of every query the fake DNS received, in order. */
    readonly queries: string[];
    readonly nodesConf: string;
    readonly seconds: number;
}

/** The namespace can be made (root, or unprivileged user namespaces) and has the tools the setup needs. */
function namespaceProblem(): string | undefined {
    const probe = spawnSync(
        "unshare",
        ["--map-root-user", "--net", "--mount", "sh", "-c", "ip link set lo up && mount --bind /etc/hosts /etc/hosts"],
        {
            encoding: "utf8",
        },
    );
    if (probe.status === 0) return undefined;
    return `this test needs util-linux unshare with user, network and mount namespaces and iproute2's ip: ${probe.error?.message ?? probe.stderr.trim()}`;
}

/** node-start.sh in a fresh namespace whose DNS is the fake one; `env` is added to the script's. */
function runWithDns(
    dir: string,
    conf: string,
    env: Record<string, string>,
    answers?: Record<string, string>,
    killAfterMs = 90_000,
): DnsRun {
    const data = path.join(dir, "data");
    fs.mkdirSync(data, { recursive: true });
    fs.writeFileSync(path.join(data, "nodes.conf"), conf);
    fs.writeFileSync(path.join(dir, "shared.conf"), "port 6379\ncluster-enabled yes\n");
    fs.writeFileSync(path.join(dir, "resolv.conf"), GKE_LIKE_RESOLV_CONF);
    fs.writeFileSync(path.join(dir, "nsswitch.conf"), "hosts: files dns\n");
    fs.writeFileSync(path.join(dir, "dns.js"), FAKE_DNS);
    if (answers) fs.writeFileSync(path.join(dir, "answers.json"), JSON.stringify(answers));
    const queries = path.join(dir, "queries.log");
    fs.writeFileSync(queries, "");
    const setup = [
        "set -e",
        "ip link set lo up",
        `ip addr add ${HOST_ADDRESS}/32 dev lo`,
        'mount --bind "$T/resolv.conf" /etc/resolv.conf',
        'mount --bind "$T/nsswitch.conf" /etc/nsswitch.conf',
        `"$NODE" "$T/dns.js" "$T/queries.log" "$T/dns.ready" ${answers ? '"$T/answers.json"' : ""} & dns=$!`,
        'while [ ! -f "$T/dns.ready" ]; do sleep 0.05; done',
        "start=$(date +%s.%N)",
        'set +e; dash "$SCRIPT" sh -c "echo exec-reached"; status=$?; set -e',
        'awk -v a="$start" -v b="$(date +%s.%N)" \'BEGIN { printf "elapsed %.2f\\n", b - a }\' >&2',
        'kill "$dns"',
        'exit "$status"',
    ].join("\n");
    const r = spawnSync("unshare", ["--map-root-user", "--net", "--mount", "sh", "-c", setup], {
        encoding: "utf8",
        timeout: killAfterMs,
        killSignal: "SIGKILL",
        env: {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            T: dir,
            NODE: process.execPath,
            SCRIPT: NODE_START_SCRIPT,
            POD_NAME: "redis-0",
            POD_IP: "10.4.7.70",
            POD_HOSTNAME: peerName(0),
            ...writeUsers(dir),
            REDIS_DATA_DIR: data,
            REDIS_SHARED_CONF: path.join(dir, "shared.conf"),
            REDIS_RUNTIME_CONF: path.join(dir, "run", "redis.conf"),
            ...env,
        },
    });
    const seconds = Number(/^elapsed (\S+)$/m.exec(r.stderr ?? "")?.[1] ?? NaN);
    return {
        status: r.status,
        stdout: r.stdout ?? "",
        stderr: r.stderr ?? "",
        queries: fs.readFileSync(queries, "utf8").split("\n").filter(Boolean),
        nodesConf: fs.readFileSync(path.join(data, "nodes.conf"), "utf8"),
        seconds,
    };
}

/** The ip of node `i`'s line in a nodes.conf. */
function ipOf(conf: string, i: number): string {
    const line = conf.split("\n").find((l) => l.startsWith(id(i) + " "));
    assert.ok(line, `no line for node ${i}`);
    return line.split(" ")[1].split(":")[0];
}

describe("node-start.sh with the cluster DNS down (real getent, own namespaces, block 130)", function () {
    this.timeout(150_000);
    let dir: string;

    before(function () {
        const problem = namespaceProblem();
        if (problem) throw new Error(problem);
    });
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "startscript-dns-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("each peer costs one absolute query with a 1 s timeout, and redis-server is exec'd with every last known address kept", () => {
        const nodes = 6; // 3 masters x 1 replica: five peers to look up
        const r = runWithDns(dir, nodesConf(nodes), {});
        console.log(`      ${nodes - 1} unanswered lookups took ${r.seconds.toFixed(1)} s (glibc defaults here: 20 s each)`);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.strictEqual(r.stdout.trim(), "exec-reached");
        // One A query per peer, for its name as given (absolute: no search domain appended), one attempt.
        const peers = Array.from({ length: nodes - 1 }, (_, i) => peerName(i + 1));
        assert.deepStrictEqual(
            r.queries,
            peers.map((n) => `${n} 1`),
        );
        // Nobody answered: each peer keeps its last known address; this pod's line gets POD_IP.
        for (let i = 1; i < nodes; i++) assert.strictEqual(ipOf(r.nodesConf, i), oldIp(i));
        assert.strictEqual(ipOf(r.nodesConf, 0), "10.4.7.70");
    });

    it("the whole repair is bounded: past REPAIR_BUDGET_SECONDS the remaining peers keep their addresses without a lookup", () => {
        const nodes = 40;
        const r = runWithDns(dir, nodesConf(nodes), { REPAIR_BUDGET_SECONDS: "2" });
        console.log(`      ${r.queries.length} of ${nodes - 1} peers looked up in ${r.seconds.toFixed(1)} s before the budget ran out`);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.strictEqual(r.stdout.trim(), "exec-reached");
        // The budget, not the peer count, decides how many lookups run: with a 1 s timeout each, at most budget + 1.
        assert.ok(r.queries.length >= 1 && r.queries.length <= 3, `${r.queries.length} queries`);
        const skipped = nodes - 1 - r.queries.length;
        assert.match(
            r.stderr,
            new RegExp(`name lookups stopped after 2s \\(REPAIR_BUDGET_SECONDS\\): ${skipped} peers keep their last known address`),
        );
        for (let i = 1; i < nodes; i++) assert.strictEqual(ipOf(r.nodesConf, i), oldIp(i));
    });

    it("when the DNS answers, the same real path resolves every peer and rewrites its address", () => {
        const nodes = 6;
        const answers = Object.fromEntries(Array.from({ length: nodes - 1 }, (_, i) => [peerName(i + 1), `10.9.0.${i + 1}`]));
        const r = runWithDns(dir, nodesConf(nodes), {}, answers);
        assert.strictEqual(r.status, 0, r.stderr);
        for (let i = 1; i < nodes; i++) assert.strictEqual(ipOf(r.nodesConf, i), `10.9.0.${i}`);
        assert.match(r.stderr, /10\.4\.0\.11 -> 10\.9\.0\.1 \(resolved\)/);
    });

    it("refuses bounds that are not whole seconds, before touching nodes.conf", () => {
        const conf = nodesConf(3);
        for (const [variable, value] of [
            ["REPAIR_BUDGET_SECONDS", "0"],
            ["RESOLVE_TIMEOUT_SECONDS", "1.5"],
        ]) {
            const r = runWithDns(dir, conf, { [variable]: value });
            assert.strictEqual(r.status, 64, r.stderr);
            assert.match(r.stderr, new RegExp(`must be whole seconds >= 1, got '${value.replace(".", "\\.")}'`));
            assert.strictEqual(r.nodesConf, conf);
            assert.deepStrictEqual(r.queries, []);
        }
    });
});
