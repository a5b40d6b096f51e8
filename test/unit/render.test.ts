import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { parseWorkloadSettings } from "../../components/config";
import * as crypto from "crypto";
import { TEST_PASSWORDS } from "../support/passwords";
import { parseSetFlags, renderCertificates, renderObjects, renderPasswords, writeRendered } from "../../scripts/render";
import { newCertificateAuthority } from "../../lib/x509";
import { serverSource } from "../support/mocks";

/** Validates one object against the Kubernetes OpenAPI schema of its apiVersion/kind (kubernetes-models). */
function validate(object: { apiVersion: string; kind: string }): void {
    const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion];
    const modulePath = group ? `kubernetes-models/${group}/${version}/${object.kind}` : `kubernetes-models/${version}/${object.kind}`;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Model = require(modulePath)[object.kind] as new (data: unknown) => { validate(): void };
    new Model(object).validate();
}

describe("render: YAML for kubectl and Rancher", function () {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "render-test-"));
    after(() => fs.rmSync(out, { recursive: true, force: true }));

    it("the validator rejects a broken object (so the checks below can fail)", () => {
        assert.throws(() => validate({ apiVersion: "apps/v1", kind: "StatefulSet", spec: { replicas: "six" } } as never));
        assert.throws(() =>
            validate({ apiVersion: "v1", kind: "Service", metadata: { name: "x" }, spec: { ports: [{ port: "http" }] } } as never),
        );
    });

    it("npm run render writes every object, each valid against the Kubernetes schema, with real passwords", () => {
        const script = [require.resolve("ts-node/dist/bin"), "--transpile-only", "scripts/render.ts", "--out", out];
        execFileSync(process.execPath, [...script, "--set", "redis:adminPassword=rendered-password-for-test-0123"], {
            cwd: path.join(__dirname, "..", ".."),
            stdio: "pipe",
        });
        const files = fs
            .readdirSync(out)
            .filter((f) => f.endsWith(".yaml"))
            .sort();
        const kinds = files.map((f) => YAML.parse(fs.readFileSync(path.join(out, f), "utf8")).kind);
        assert.deepEqual(kinds, [
            "Namespace",
            "Secret",
            "Secret",
            "Secret",
            "Secret",
            "Secret",
            "ConfigMap",
            "ConfigMap",
            "Service",
            "Service",
            "StatefulSet",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Service",
            "NetworkPolicy",
            "PodDisruptionBudget",
        ]);
        for (const f of files) {
            const text = fs.readFileSync(path.join(out, f), "utf8");
            assert.match(text, /^# Passwords in the users Secret: admin from --set, the others generated randomly by this run/m, f);
            assert.doesNotMatch(text, /\[object Object\]|Output<T>|toJSON/, `${f} contains an unresolved value`);
            assert.doesNotThrow(() => validate(YAML.parse(text)), f);
        }
        const secret = YAML.parse(fs.readFileSync(path.join(out, files[1]), "utf8"));
        assert.equal(secret.metadata.name, "redis-users");
        assert.equal(secret.stringData.admin, "rendered-password-for-test-0123");
        assert.match(secret.stringData.client, /^[A-Za-z0-9_-]{32}$/);
        const own = YAML.parse(fs.readFileSync(path.join(out, files[3]), "utf8"));
        assert.deepEqual(own.stringData, { username: "client", password: secret.stringData.client });
        assert.ok(
            fs
                .readFileSync(path.join(out, "FORMING.txt"), "utf8")
                .includes(". /scripts/rediscli.sh; rcli --cluster create --cluster-replicas 1"),
        );
        // Real certificates: the server's, for the pods' names, signed by the CA that clients get.
        const tlsSecret = YAML.parse(fs.readFileSync(path.join(out, files[5]), "utf8"));
        const ca = YAML.parse(fs.readFileSync(path.join(out, files[7]), "utf8")).data["ca.crt"];
        assert.equal(tlsSecret.type, "kubernetes.io/tls");
        assert.equal(tlsSecret.stringData["ca.crt"], ca);
        const cert = new crypto.X509Certificate(tlsSecret.stringData["tls.crt"]);
        assert.ok(cert.verify(new crypto.X509Certificate(ca).publicKey));
        assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(tlsSecret.stringData["tls.key"])));
        assert.ok(cert.checkHost("redis-4.redis-headless.redis.svc.cluster.local"));
        assert.match(
            fs.readFileSync(path.join(out, files[5]), "utf8"),
            /^# Certificates in the TLS Secret: a new CA .* issued by this run, valid 365 days\.$/m,
        );
    });

    it("generates the passwords when none is given, and says so in every file", () => {
        const settings = parseWorkloadSettings(parseSetFlags(["--set", "redis:masters=4"]));
        const a = renderPasswords(settings);
        const b = renderPasswords(settings);
        assert.match(a.passwords.admin, /^[A-Za-z0-9_-]{32}$/);
        assert.notEqual(a.passwords.admin, b.passwords.admin);
        assert.equal(new Set(Object.values(a.passwords)).size, 5);
        assert.match(a.source, /^generated randomly/);
        const dir = path.join(out, "generated");
        writeRendered(dir, {
            settings,
            passwords: a.passwords,
            passwordSource: a.source,
            serverSource: serverSource(),
            tls: renderCertificates(settings),
        });
        const secretFile = fs.readdirSync(dir).find((f) => f.includes("-secret-redis-users"))!;
        const text = fs.readFileSync(path.join(dir, secretFile), "utf8");
        assert.match(text, /Passwords in the users Secret: generated randomly by this run/);
        assert.deepEqual(YAML.parse(text).stringData, a.passwords);
        const sts = YAML.parse(
            fs.readFileSync(
                path.join(
                    dir,
                    fs.readdirSync(dir).find((f) => f.includes("statefulset"))!,
                ),
                "utf8",
            ),
        );
        assert.equal(sts.spec.replicas, 9, "4x1: 8 members and the surge pod");
    });

    it("with redis:tlsCaCertificate the server certificate is that CA's; without TLS, no certificates at all", () => {
        const userCa = newCertificateAuthority("our CA", 3650);
        const settings = parseWorkloadSettings({ "redis:tlsCaCertificate": userCa.certPem, "redis:tlsCaKey": userCa.keyPem });
        const tls = renderCertificates(settings);
        assert.equal(tls.caPem, userCa.certPem);
        assert.ok(new crypto.X509Certificate(String(tls.certificatePem)).checkIssued(new crypto.X509Certificate(userCa.certPem)));
        const plain = parseWorkloadSettings({ "redis:tls": "false" });
        const kinds = renderObjects({
            settings: plain,
            passwords: TEST_PASSWORDS,
            passwordSource: "test",
            serverSource: serverSource(),
        }).map((o) => o.file);
        assert.ok(!kinds.some((f) => f.includes("redis-tls") || f.includes("redis-ca")), kinds.join(", "));
    });

    it("refuses a malformed --set and invalid settings", () => {
        assert.throws(() => parseSetFlags(["--set", "redis:masters"]), /--set: expected namespace:key=value/);
        assert.throws(() => parseWorkloadSettings(parseSetFlags(["--set", "redis:masters=2"])), /redis:masters/);
    });

    it("non-default settings render valid objects too (no exporter, storage class, ClusterIP app, ready-made image)", () => {
        const settings = parseWorkloadSettings({
            "redis:exporter": "false",
            "redis:storageClass": "premium-rwo",
            "redis:replicasPerMaster": "0",
            "app:serviceType": "ClusterIP",
            "app:image": "ghcr.io/acme/hit-counter:1.0.0",
        });
        const objects = renderObjects({ settings, passwords: TEST_PASSWORDS, passwordSource: "test", tls: renderCertificates(settings) });
        assert.ok(!objects.some((o) => o.file.includes("hit-counter-server")), "no server ConfigMap with a ready-made image");
        for (const { file, object } of objects) assert.doesNotThrow(() => validate(object), file);
    });

    it("the bundled server fits in its ConfigMap", () => {
        const settings = parseWorkloadSettings({});
        const cm = renderObjects({
            settings,
            passwords: TEST_PASSWORDS,
            passwordSource: "test",
            serverSource: serverSource(),
            tls: renderCertificates(settings),
        }).find((o) => o.file.includes("hit-counter-server"))!;
        assert.ok(Buffer.byteLength(YAML.stringify(cm.object)) < 1024 * 1024);
    });
});
