/**
 * lib/x509.ts: certificates Node's own X.509 parser and TLS accept as the CA and server
 * certificates of the local runtime, `npm run render` and the @pulumi/tls mocks.
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as tls from "tls";
import { issueCertificate, newCertificateAuthority, newPrivateKeyPem, newSignedCertificate } from "../../lib/x509";

const DAY = 86_400_000;

describe("lib/x509: certificates from Node's crypto", () => {
    const ca = newCertificateAuthority("test CA", 3650);
    const leaf = newSignedCertificate(
        ca,
        {
            commonName: "redis",
            dnsNames: ["*.redis-headless.redis.svc.cluster.local", "localhost"],
            ipAddresses: ["127.0.0.1", "10.1.2.3"],
            uses: ["digital_signature", "server_auth", "client_auth"],
        },
        365,
    );
    const caCert = new crypto.X509Certificate(ca.certPem);
    const cert = new crypto.X509Certificate(leaf.certPem);

    it("a self-signed CA: CA:TRUE, its own issuer, valid from now for the days asked", () => {
        assert.strictEqual(caCert.ca, true);
        assert.ok(caCert.checkIssued(caCert) && caCert.verify(caCert.publicKey));
        assert.match(caCert.subject, /CN=test CA/);
        const days = (Date.parse(caCert.validTo) - Date.now()) / DAY;
        assert.ok(days > 3649 && days <= 3650, String(days));
    });

    it("a server certificate: signed by the CA (issuer name and key identifiers agree), its key, names, uses", () => {
        assert.strictEqual(cert.ca, false);
        assert.ok(cert.checkIssued(caCert), "issuer and authority key id match the CA");
        assert.ok(cert.verify(caCert.publicKey));
        assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(leaf.keyPem)));
        assert.strictEqual(
            cert.subjectAltName,
            "DNS:*.redis-headless.redis.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1, IP Address:10.1.2.3",
        );
        assert.ok(
            cert.checkHost("redis-3.redis-headless.redis.svc.cluster.local") &&
                !cert.checkHost("a.b.redis-headless.redis.svc.cluster.local"),
        );
        assert.deepStrictEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    });

    it("a TLS server with it is accepted by a client that trusts the CA, and refused by one that does not", async () => {
        const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => s.end("ok"));
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const port = (server.address() as { port: number }).port;
        const connect = (o: tls.ConnectionOptions) =>
            new Promise<string>((resolve) => {
                const c = tls.connect({ host: "127.0.0.1", port, ...o }, () => resolve("ok"));
                c.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
            });
        try {
            assert.strictEqual(await connect({ ca: ca.certPem }), "ok");
            assert.strictEqual(await connect({ ca: ca.certPem, servername: "redis-0.redis-headless.redis.svc.cluster.local" }), "ok");
            assert.strictEqual(await connect({ ca: newCertificateAuthority("other", 10).certPem }), "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
        } finally {
            server.close();
        }
    });

    it("any validity window (an expired CA for the refusal tests), and issuers with RSA and Ed25519 keys", () => {
        const keyPem = newPrivateKeyPem();
        const expired = new crypto.X509Certificate(
            issueCertificate(
                {
                    commonName: "old",
                    isCa: true,
                    uses: ["cert_signing"],
                    notBefore: new Date(Date.now() - 20 * DAY),
                    notAfter: new Date(Date.now() - DAY),
                },
                keyPem,
                { keyPem },
            ),
        );
        assert.ok(Date.parse(expired.validTo) < Date.now());
        for (const type of ["rsa", "ed25519"] as const) {
            const key = (
                type === "rsa" ? crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }) : crypto.generateKeyPairSync("ed25519")
            ).privateKey;
            const issuerKeyPem = key.export({ type: "pkcs8", format: "pem" }) as string;
            const root = issueCertificate(
                {
                    commonName: `${type} root`,
                    isCa: true,
                    uses: ["cert_signing"],
                    notBefore: new Date(),
                    notAfter: new Date(Date.now() + DAY),
                },
                issuerKeyPem,
                { keyPem: issuerKeyPem },
            );
            const signed = newSignedCertificate({ certPem: root, keyPem: issuerKeyPem }, { commonName: "x", uses: ["server_auth"] }, 1);
            assert.ok(new crypto.X509Certificate(signed.certPem).verify(new crypto.X509Certificate(root).publicKey), type);
        }
    });
});
