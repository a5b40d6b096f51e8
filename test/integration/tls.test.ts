/**
 * TLS on every link, for real: `npm run local -- up --tls` runs the StatefulSet's own pods with the
 * TLS Secret mounted (loopback block 127.0.230.x, 3x1): the cluster forms over TLS, the probes pass
 * over TLS, a client with the CA reads and writes, the app counts hits over TLS, nothing answers in
 * plain text, a client that does not trust the CA or dials a name the certificate does not carry is
 * refused, the cluster bus wants the pods' certificate, and a lost master is failed over under load
 * with no acknowledged hit lost.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import * as tls from "tls";
import { Cluster, Redis } from "ioredis";
import { httpStatus } from "../../lib/http";
import { Layout } from "../../local/layout";
import { UpSummary } from "../../local/up";
import { StatusView } from "../../local/protocol";
import { ioredisAccessOptions } from "../../components/formation/transport";
import { newLocalTlsSecret } from "../../local/certificates";
import { lastJson, removeTempDirs, runCli, status, tempDir, waitHealthy } from "../support/runtime";
import { loopbackBlocks } from "../support/loopbackBlocks";

const [BLOCK] = loopbackBlocks(__filename);
const FLAGS = ["--block", String(BLOCK), "--probe-period-scale", "0.2", "--pod-start-delay-ms", "1000"];

/** How a TLS handshake with `options` ends: the server's certificate, or the error that ended it. */
function handshake(options: tls.ConnectionOptions): Promise<{ cert?: tls.PeerCertificate; error?: NodeJS.ErrnoException }> {
    return new Promise((resolve) => {
        const socket = tls.connect({ port: 6379, ...options });
        socket.once("secureConnect", () => {
            const cert = socket.getPeerCertificate();
            socket.destroy();
            resolve({ cert });
        });
        socket.once("error", (error) => resolve({ error }));
    });
}

/** What a plain-text client gets from a TLS port: every byte the server sent before it closed the connection. */
function plainTextAnswer(host: string, port: number): Promise<string> {
    return new Promise((resolve) => {
        let answer = "";
        const socket = net.connect({ host, port }, () => socket.write("PING\r\n"));
        socket.on("data", (d) => (answer += d.toString("latin1")));
        socket.on("error", () => undefined);
        socket.once("close", () => resolve(answer));
    });
}

/** A TLS connection to the cluster bus that presents `cert`/`key` (or none): how it ends once the server had its say. */
function busOutcome(host: string, ca: string, client?: { cert: string; key: string }): Promise<string> {
    return new Promise((resolve) => {
        const socket = tls.connect({ host, port: 16379, ca, checkServerIdentity: () => undefined, ...client });
        // TLS 1.3: the client's handshake completes before the server has checked the client's certificate,
        // so a refusal arrives as an alert on the first read.
        socket.once("secureConnect", () => socket.write(Buffer.alloc(8)));
        socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        socket.once("close", () => resolve("closed"));
    });
}

describe("TLS on every link: npm run local -- up --tls (real processes, 3x1)", function () {
    this.timeout(180_000);
    let dir: string;
    let layout: Layout;
    let summary: UpSummary;
    let ca: string;

    before(() => {
        dir = path.join(tempDir("tls"), "cluster");
        const up = runCli(["up", "--tls", "--dir", dir, ...FLAGS]);
        assert.strictEqual(up.status, 0, up.stderr);
        summary = lastJson<UpSummary>(up);
        layout = new Layout(dir);
        ca = fs.readFileSync(summary.ca ?? "", "utf8");
    });
    after(() => {
        if (dir) runCli(["down", "--dir", dir]);
        removeTempDirs();
    });

    const hosts = (s: StatusView) => s.pods.map((p) => p.address);
    const client = () =>
        new Redis({
            host: summary.pods[0].address,
            port: 6379,
            ...ioredisAccessOptions({ username: "admin", password: summary.password, tls: { ca } }),
        });

    it("up --tls reports the CA's file and the users; every pod formed and Ready (the probes speak TLS) with the plain port closed", async () => {
        assert.ok(new crypto.X509Certificate(ca).ca, `${summary.ca} is not a CA certificate`);
        assert.deepStrictEqual(
            summary.users.map((u) => u.name),
            ["admin", "replication", "hitcounter", "client", "exporter"],
        );
        assert.strictEqual(summary.users[0].password, summary.password, "`password` is the admin user's");
        assert.strictEqual(summary.shards.length, 3);
        const s = await waitHealthy(layout);
        for (const host of hosts(s)) {
            const node = new Redis({
                host,
                port: 6379,
                ...ioredisAccessOptions({ username: "admin", password: summary.password, tls: { ca } }),
            });
            try {
                const conf = (await node.call("CONFIG", "GET", "*port*")) as string[];
                const get = (k: string) => conf[conf.indexOf(k) + 1];
                assert.deepStrictEqual([get("port"), get("tls-port")], ["0", "6379"], host);
                assert.deepStrictEqual(await node.call("CONFIG", "GET", "tls-cluster"), ["tls-cluster", "yes"]);
                assert.deepStrictEqual(await node.call("CONFIG", "GET", "tls-replication"), ["tls-replication", "yes"]);
                // With the plain port closed a replica's link can only be TLS.
                if (String(await node.call("ROLE")).startsWith("slave"))
                    assert.match(await node.info("replication"), /master_link_status:up/);
            } finally {
                node.disconnect();
            }
        }
    });

    it("status reads the formation's drift over TLS, as pulumi refresh does: none, nothing to converge", async () => {
        await waitHealthy(layout);
        const r = runCli(["status", "--json", "--dir", dir]);
        assert.strictEqual(r.status, 0, r.stderr);
        const s = lastJson<StatusView & { drift: unknown[]; converge: string[] }>(r);
        assert.deepStrictEqual([s.drift, s.converge], [[], []]);
    });

    it("a client with the CA writes and reads across the cluster; the app counts hits over TLS", async () => {
        const cluster = new Cluster(
            summary.pods.map((p) => ({ host: p.address, port: 6379 })),
            { redisOptions: ioredisAccessOptions({ username: "admin", password: summary.password, tls: { ca } }) },
        );
        try {
            await Promise.all(Array.from({ length: 100 }, (_, i) => cluster.set(`tls:{${i}}`, `v${i}`)));
            const values = await Promise.all(Array.from({ length: 100 }, (_, i) => cluster.get(`tls:{${i}}`)));
            assert.deepStrictEqual(
                values.filter((v, i) => v !== `v${i}`),
                [],
            );
        } finally {
            cluster.disconnect();
        }
        assert.strictEqual(await httpStatus(`${summary.app}/`), 200);
        assert.match(fs.readFileSync(layout.log("app"), "utf8"), /tls true/);
    });

    it("nothing answers in plain text, on the client port or the bus; a client that does not trust the CA is refused", async () => {
        const host = summary.pods[0].address;
        for (const port of [6379, 16379]) assert.doesNotMatch(await plainTextAnswer(host, port), /PONG|NOAUTH|ERR/, `port ${port}`);
        const plain = new Redis({
            host,
            port: 6379,
            password: summary.password,
            lazyConnect: true,
            retryStrategy: () => null,
            maxRetriesPerRequest: 0,
        });
        plain.on("error", () => undefined);
        await assert.rejects(plain.connect().then(() => plain.ping()));
        plain.disconnect();
        const untrusting = await handshake({ host });
        assert.match(String(untrusting.error?.code), /UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN/);
        const r = client();
        try {
            assert.strictEqual(await r.ping(), "PONG", "the same client with the CA");
        } finally {
            r.disconnect();
        }
    });

    it("the certificate names the pods' DNS names, as Kubernetes clients dial them, and not another namespace's", async () => {
        const host = summary.pods[1].address;
        const asPod = await handshake({ host, ca, servername: "redis-1.redis-headless.redis.svc.cluster.local" });
        assert.strictEqual(asPod.error, undefined, String(asPod.error));
        assert.match(asPod.cert?.subjectaltname ?? "", /DNS:\*\.redis-headless\.redis\.svc\.cluster\.local/);
        const elsewhere = await handshake({ host, ca, servername: "redis-1.redis-headless.other.svc.cluster.local" });
        assert.strictEqual(elsewhere.error?.code, "ERR_TLS_CERT_ALTNAME_INVALID");
    });

    it("the cluster bus refuses a TLS client without a certificate of the pods' CA (tls-auth-clients optional does not reach the bus)", async () => {
        const host = summary.pods[2].address;
        assert.strictEqual(await busOutcome(host, ca), "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
        // A certificate of another CA is refused too: only holders of the pods' certificate take part.
        const stranger = newLocalTlsSecret(["localhost"], [host]);
        assert.strictEqual(
            await busOutcome(host, ca, { cert: stranger["tls.crt"], key: stranger["tls.key"] }),
            "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
        );
    });

    it("a lost master is failed over through the TLS bus under load; it rejoins as a replica; no acknowledged hit lost", async () => {
        const drill = runCli(["drill", "--freeze", "--dir", dir], 150_000);
        assert.strictEqual(drill.status, 0, drill.stderr + drill.stdout);
        const r = lastJson<{ lost: number; acknowledged: number; promotedMs?: number; roleAfter?: string; longestGapMs: number }>(drill);
        console.log(
            `      freeze of a master over TLS: a replica took over after ${r.promotedMs} ms, longest write gap ${r.longestGapMs.toFixed(0)} ms`,
        );
        assert.ok(r.promotedMs !== undefined, "a replica took over");
        assert.strictEqual(r.roleAfter, "replica");
        assert.ok(r.acknowledged > 0);
        assert.strictEqual(r.lost, 0);
        const s = await status(layout);
        assert.ok(s.pods.every((p) => p.ready));
    });
});
