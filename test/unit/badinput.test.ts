/**
 * Bad input, everywhere a user can give it, through the pure parsers: stack config (every key),
 * the formation provider's check, the local CLI's flags and the app's environment. Each error
 * must name the field and say what is allowed. The real-process side (nothing started, nothing
 * lost) is in test/integration/badinput.test.ts.
 */
import * as assert from "assert";
import { CONFIG_KEYS, ConfigError, PROJECT, RawConfig, SECRET_CONFIG_KEYS, parseSettings } from "../../components/config";
import { FormationInputs, checkFormationInputs, formationProvider } from "../../components/formation/provider";
import { validFormationInputs } from "../support/formationInputs";
import { ConfigError as ServerConfigError, parseServerConfig } from "../../app/config";
import { redisTlsOptions } from "../../app/redisClient";
import { UsageError, parseArgs } from "../../local/cliArgs";
import * as crypto from "crypto";
import { issueCertificate, newCertificateAuthority, newPrivateKeyPem, newSignedCertificate } from "../../lib/x509";

const GKE: RawConfig = { "gcp:project": "acme-redis", "gcp:region": "europe-west1" };
const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n";
const EXISTING: RawConfig = { [`${PROJECT}:target`]: "existing", [`${PROJECT}:kubeconfig`]: KUBECONFIG };

/** CAs that must be refused, and one that must not, issued here (lib/x509.ts). */
const DAY = 86_400_000;
const GOOD_CA = newCertificateAuthority("our CA", 3650);
const CA_WITH = (extra: RawConfig): RawConfig => ({
    ...GKE,
    "redis:tlsCaCertificate": GOOD_CA.certPem,
    "redis:tlsCaKey": GOOD_CA.keyPem,
    ...extra,
});
const caSpec = (from: number, to: number) => ({
    commonName: "bad CA",
    isCa: true,
    uses: ["cert_signing"] as const,
    notBefore: new Date(from),
    notAfter: new Date(to),
});
const EXPIRED_CA = (() => {
    const keyPem = newPrivateKeyPem();
    return issueCertificate(caSpec(Date.now() - 400 * DAY, Date.now() - DAY), keyPem, { keyPem });
})();
const SHORT_LIVED_CA = newCertificateAuthority("expires soon", 100).certPem;
const LEAF = newSignedCertificate(GOOD_CA, { commonName: "not a CA", dnsNames: ["x"], uses: ["server_auth"] }, 365).certPem;
const INTERMEDIATE = issueCertificate(caSpec(Date.now() - DAY, Date.now() + 3000 * DAY), newPrivateKeyPem(), GOOD_CA);
const ENCRYPTED_KEY = crypto.generateKeyPairSync("ec", {
    namedCurve: "prime256v1",
    privateKeyEncoding: { type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "secret" },
    publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;

/**
 * One bad value per stack config key (several for some), with what the message must say
 * besides the key. The completeness test below fails when a key is added without a case.
 */
const BAD_CONFIG: ReadonlyArray<readonly [key: string, value: string, says: RegExp, base?: RawConfig]> = [
    [`${PROJECT}:target`, "aks", /use one of gke, existing/],
    [`${PROJECT}:kubeconfig`, "~/.kube/config", /not a kubeconfig; expected its YAML .* not a path/, EXISTING],
    [`${PROJECT}:kubeconfig`, "{{{ not yaml", /not a kubeconfig/, EXISTING],
    [`${PROJECT}:namespace`, "Redis_Prod", /use a DNS label/],
    [`${PROJECT}:retainOnDestroy`, "keep", /use true or false/],
    [`${PROJECT}:postDeployCheck`, "yes", /use true or false/],
    ["gcp:project", "Acme Redis", /use a GCP project ID/],
    ["gcp:region", "europe-west1-b", /use a GCP region such as europe-west1 .*not a zone/],
    ["gke:nodesPerZone", "0", /use a whole number from 1 to 100/],
    ["gke:machineType", "E2 Standard", /use a Compute Engine machine type/],
    ["gke:releaseChannel", "RAPID", /use one of REGULAR, STABLE, EXTENDED/],
    ["gke:diskSizeGb", "5", /use a whole number from 10 to 65536/],
    ["gke:deletionProtection", "on", /use true or false/],
    ["gke:privateNodes", "1", /use true or false/],
    ["gke:authorizedNetworks", "0.0.0.0/0", /use IPv4 CIDRs .* each \/8 or longer/],
    ["gke:authorizedNetworks", "0.0.0.0/1,128.0.0.0/1", /each \/8 or longer/],
    ["gke:authorizedNetworks", "203.0.113.5/24", /no host bits set/],
    ["gke:kubeconfigEndpoint", "public", /use one of dns, ip/],
    ["gke:kubeconfigEndpoint", "ip", /ip needs gke:authorizedNetworks .*list the network Pulumi runs from, or use dns/],
    ["gke:upgradeMaxSurge", "-1", /use a whole number from 0 to 100/],
    ["gke:upgradeMaxUnavailable", "all", /use a whole number from 0 to 100/],
    ["gke:upgradeMaxSurge", "0", /\(both 0\) would upgrade no node; set gke:upgradeMaxSurge to 1/],
    ["gke:maintenanceWindow", "Sundays", /use `daily` or weekdays/],
    [
        "gke:maintenanceExclusions",
        "sale",
        /use exclusions separated by commas, each NAME=START\/END/,
        { ...GKE, "gke:maintenanceWindow": "daily 01:00-05:00" },
    ],
    [
        "gke:maintenanceExclusions",
        "sale=2026-11-26T00:00:00Z/2026-11-28T00:00:00Z",
        /GKE takes exclusions only with a maintenance window; set gke:maintenanceWindow/,
    ],
    ["redis:masters", "2", /use a whole number from 3 to 1000/],
    ["redis:masters", "three", /use a whole number from 3 to 1000/],
    ["redis:masters", "3.5", /use a whole number from 3 to 1000/],
    ["redis:replicasPerMaster", "-1", /use a whole number from 0 to 5/],
    ["redis:image", "redis 7", /use an image reference such as/],
    ["redis:exporter", "yes", /use true or false/],
    ["redis:exporterImage", "Oliver006/redis_exporter", /use an image reference/],
    ["redis:metricsNamespaces", "Monitoring", /use namespace names \(DNS labels\) separated by commas, such as gmp-system,monitoring/],
    ["redis:metricsNamespaces", "gmp-system,,monitoring", /use namespace names/],
    ["redis:podMonitoring", "yes", /use true or false/],
    ["redis:podMonitoring", "true", /true needs redis:exporter true/, { ...GKE, "redis:exporter": "false" }],
    ["redis:zoneSpread", "hard", /use one of required, preferred/],
    ["redis:minZones", "0", /use a whole number from 1 to 10/],
    ["redis:nodeTimeoutMs", "100", /use a whole number from 500 to 120000/],
    ["redis:handover", "always", /use true or false/],
    ["redis:takeover", "on", /use true or false/],
    ["redis:surgeReplica", "on", /use true or false/],
    [
        "redis:surgeReplica",
        "true",
        /true needs redis:replicasPerMaster 1 \(it is 3: .*\); allowed: true, false/,
        { ...GKE, "redis:replicasPerMaster": "3" },
    ],
    ["redis:storageSize", "10 gigs", /use a Kubernetes quantity/],
    ["redis:storageSize", "900Mi", /below 4 x maxmemory \(1Gi for redis:memoryLimit 512Mi\).*use at least 1Gi/],
    ["redis:storageClass", "Premium RWO", /use the name of a StorageClass/],
    ["redis:cpuRequest", "lots", /use a CPU quantity/],
    ["redis:cpuLimit", "2 cores", /use a CPU quantity/],
    ["redis:memoryLimit", "lots", /use a Kubernetes quantity/],
    ["redis:memoryLimit", "200Mi", /below 256Mi/],
    [
        "redis:adminPassword",
        "hunter2hunter2",
        /too short \(14 characters\); use 16 to 128 characters: letters, digits .*\(the value is not shown\)/,
    ],
    [
        "redis:hitcounterPassword",
        "has spaces in it but long enough",
        /holds a space, which is not allowed; use 16 to 128 characters.*no spaces/,
    ],
    [
        "redis:clientPassword",
        ">starts-with-an-operator",
        /holds '>', which is not allowed; .*Redis' ACL rules read '>' and '<' as password operators/,
    ],
    ["redis:replicationPassword", 'a-"quoted"-password-0123', /holds '"', which is not allowed; .*no spaces, quotes/],
    ["redis:exporterPassword", "x".repeat(129), /too long \(129 characters\)/],
    ["redis:password", "a-long-enough-password-01", /no longer read: every client has its own ACL user now.*redis:adminPassword/],
    ["redis:passwordRotation", "next week", /use up to 63 letters, digits/],
    ["redis:allowedClients", "shop", /not a list; use a JSON or YAML list of \{namespace, podLabels\}/],
    ["redis:allowedClients", '[{"namespace":"Shop"}]', /item 0: namespace "Shop" is not a namespace name \(a DNS label\)/],
    [
        "redis:allowedClients",
        '[{"namespace":"shop","podLabels":{"app name":"cart"}}]',
        /item 0: label key "app name" is not a valid label name/,
    ],
    [
        "redis:allowedClients",
        '[{"namespace":"shop","podLabels":{"-x.io/app":"cart"}}]',
        /label key "-x.io\/app": its prefix is not a DNS subdomain/,
    ],
    [
        "redis:allowedClients",
        '[{"namespace":"shop","podLabels":{"app":"cart shop"}}]',
        /label app's value "cart shop" is not a valid label value/,
    ],
    [
        "redis:allowedClients",
        '[{"namespace":"shop","pods":{"app":"cart"}}]',
        /item 0 has unknown field pods \(known: namespace, podLabels\)/,
    ],
    ["redis:tls", "maybe", /use true or false/],
    ["redis:tlsCaCertificate", "-----BEGIN PRIVATE KEY-----", /not a PEM certificate/],
    ["redis:tlsCaCertificate", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", /not a parseable certificate/],
    ["redis:tlsCaCertificate", EXPIRED_CA, /expired on 20\d\d-.*; renew the CA/],
    [
        "redis:tlsCaCertificate",
        SHORT_LIVED_CA,
        /expires on 20\d\d-.*before the 365-day server certificate it would sign; renew the CA first/,
    ],
    ["redis:tlsCaCertificate", LEAF, /CN=not a CA is not a CA \(its basicConstraints do not say CA:TRUE\)/],
    ["redis:tlsCaCertificate", INTERMEDIATE, /not self-signed: an intermediate CA needs its chain/],
    ["redis:tlsCaCertificate", GOOD_CA.certPem + GOOD_CA.certPem, /2 certificates; give exactly one/],
    ["redis:tlsCaCertificate", GOOD_CA.certPem, /needs redis:tlsCaKey too/],
    [
        "redis:tlsCaCertificate",
        GOOD_CA.certPem,
        /only used with redis:tls true/,
        { ...GKE, "redis:tls": "false", "redis:tlsCaKey": GOOD_CA.keyPem },
    ],
    ["redis:tlsCaKey", "my key", /not a PEM private key/],
    ["redis:tlsCaKey", ENCRYPTED_KEY, /an encrypted key; give it without a passphrase/],
    ["redis:tlsCaKey", newPrivateKeyPem(), /not the private key of redis:tlsCaCertificate/, CA_WITH({})],
    ["redis:tlsCaKey", GOOD_CA.keyPem, /needs redis:tlsCaCertificate too/],
    ["app:replicas", "-2", /use a whole number from 0 to 100/],
    ["app:serviceType", "Ingress", /use one of LoadBalancer, ClusterIP, NodePort/],
    ["app:image", "my image", /use an image reference/],
    ["app:nodeImage", "node:", /use an image reference/],
    [
        "app:nodeImage",
        "node:20.18.1-alpine3.20",
        /Node.js 20 is older than the bundled server's target node24 .*use Node.js 24 or newer, e.g. node:24/,
    ],
    ["app:nodeImage", "docker.io/library/node:22-alpine", /Node.js 22 is older than the bundled server's target node24/],
];

function configError(raw: RawConfig): ConfigError {
    try {
        parseSettings(raw, SECRET_CONFIG_KEYS);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
        return e;
    }
    assert.fail(`accepted ${JSON.stringify(raw)}`);
}

describe("bad input: stack config (components/config.ts parseSettings)", () => {
    it("every documented key has a bad-value case here", () => {
        const covered = new Set(BAD_CONFIG.map(([k]) => k));
        assert.deepStrictEqual(
            Object.keys(CONFIG_KEYS).filter((k) => !covered.has(k)),
            [],
        );
    });

    for (const [key, value, says, base] of BAD_CONFIG) {
        it(`${key} = ${JSON.stringify(value)} is refused, naming the key and what is allowed`, () => {
            const e = configError({ ...(base ?? GKE), [key]: value });
            const line = e.message.split("\n").find((l) => l.includes(`- ${key}:`));
            assert.ok(line, `no line names ${key}:\n${e.message}`);
            assert.match(line, says);
            if (SECRET_CONFIG_KEYS.has(key)) assert.ok(!e.message.includes(value), "the secret value is echoed");
        });
    }

    it("the defaults and the example values pass (the cases above fail for their value, not for the base)", () => {
        assert.doesNotThrow(() => parseSettings(GKE, SECRET_CONFIG_KEYS));
        assert.doesNotThrow(() => parseSettings(EXISTING, SECRET_CONFIG_KEYS));
        assert.strictEqual(parseSettings(CA_WITH({}), SECRET_CONFIG_KEYS).redis.tlsCa?.certificatePem, GOOD_CA.certPem);
        assert.doesNotThrow(() =>
            parseSettings(
                {
                    ...GKE,
                    "gke:machineType": "n2-custom-4-8192",
                    "redis:image": "europe-docker.pkg.dev/acme/mirror/redis:7.2.7-bookworm",
                    "redis:storageClass": "premium-rwo",
                    "app:image": "ghcr.io/acme/hit-counter@sha256:" + "a".repeat(64),
                    "gcp:region": "northamerica-northeast1",
                    "gke:authorizedNetworks": "10.0.0.0/8,203.0.113.7/32",
                },
                SECRET_CONFIG_KEYS,
            ),
        );
    });

    it("a secret key set in plain text is refused (the engine did not list it as secret)", () => {
        for (const key of SECRET_CONFIG_KEYS) {
            const raw = {
                ...EXISTING,
                "redis:adminPassword": "a-long-enough-password-01",
                "redis:replicationPassword": "a-long-enough-password-02",
                "redis:hitcounterPassword": "a-long-enough-password-03",
                "redis:clientPassword": "a-long-enough-password-04",
                "redis:exporterPassword": "a-long-enough-password-05",
                "redis:tlsCaCertificate": GOOD_CA.certPem,
                "redis:tlsCaKey": GOOD_CA.keyPem,
            };
            const e = (() => {
                try {
                    parseSettings(raw, new Set([...SECRET_CONFIG_KEYS].filter((k) => k !== key)));
                } catch (err) {
                    return err as Error;
                }
                assert.fail(`${key} in plain text was accepted`);
            })();
            assert.match(e.message, new RegExp(`- ${key}: set in plain text.*pulumi config set --secret ${key} `));
        }
    });

    it("a typo of a key is refused with the known keys of its namespace", () => {
        const e = configError({ ...GKE, "redis:master": "4" });
        assert.match(e.message, /redis:master: unknown key; known keys are redis:masters, /);
    });

    it("several mistakes are reported together, one line each", () => {
        const e = configError({ ...GKE, "redis:masters": "1", "app:serviceType": "x", "gke:diskSizeGb": "1" });
        assert.strictEqual(e.message.split("\n").filter((l) => l.startsWith("  - ")).length, 3);
    });
});

const VALID_FORMATION = validFormationInputs(KUBECONFIG);

describe("bad input: the formation provider's check (components/formation/provider.ts)", () => {
    // Values a hand-written program could pass (Pulumi config strings, arithmetic slips, copy-paste).
    const cases: ReadonlyArray<readonly [field: keyof FormationInputs, value: unknown, says: RegExp]> = [
        ["masters", "4", /masters: expected a whole number from 3 to 1000 .*got "4"/],
        ["masters", Number.NaN, /masters: expected a whole number from 3 to 1000/],
        ["masters", undefined, /masters: expected a whole number from 3 to 1000/],
        ["replicasPerMaster", 6, /replicasPerMaster: expected a whole number from 0 to 5, got 6/],
        ["replicasPerMaster", 0.5, /replicasPerMaster: expected a whole number from 0 to 5/],
        ["namespace", "a".repeat(64), /namespace: expected a DNS label .*at most 63 characters/],
        ["containerName", "Redis", /containerName: expected a DNS label/],
        ["statefulSetName", undefined, /statefulSetName: expected a DNS label/],
        ["headlessServiceName", "redis_headless", /headlessServiceName: expected a DNS label or nothing/],
        ["kubeconfig", "   ", /kubeconfig: required/],
        ["timeoutMs", 10, /timeoutMs: expected an integer >= 1000, got 10/],
        ["port", 0, /port: expected 1-65535, got 0/],
    ];
    for (const [field, value, says] of cases) {
        it(`${field} = ${JSON.stringify(value) ?? "undefined"} is refused, naming the field`, async () => {
            const result = await formationProvider.check!(undefined as never, { ...VALID_FORMATION, [field]: value });
            assert.strictEqual(result.inputs, undefined, "check must not hand back inputs it refuses");
            assert.deepStrictEqual(
                result.failures?.map((f) => f.property),
                [field],
            );
            assert.match(result.failures![0].reason, says);
        });
    }

    it("a smaller shape is accepted (the drain empties the pods that go), but never below 3 masters", async () => {
        const fewer = await formationProvider.check!(
            { ...VALID_FORMATION, masters: 4 },
            { ...VALID_FORMATION, masters: 3, replicasPerMaster: 0 },
        );
        assert.deepStrictEqual(fewer.failures, undefined);
        const tooFew = await formationProvider.check!({ ...VALID_FORMATION, masters: 4 }, { ...VALID_FORMATION, masters: 2 });
        assert.match(
            tooFew.failures![0].reason,
            /^masters: expected a whole number from 3 to 1000 \(a majority of masters must survive a failure\), got 2$/,
        );
    });

    it("every problem is reported at once", () => {
        const failures = checkFormationInputs({ ...VALID_FORMATION, masters: 1, namespace: "", kubeconfig: "" });
        assert.deepStrictEqual(failures.map((f) => f.property).sort(), ["kubeconfig", "masters", "namespace"]);
    });
});

describe("bad input: local CLI flags (local/cliArgs.ts parseArgs)", () => {
    const cases: ReadonlyArray<readonly [argv: string[], says: RegExp]> = [
        [
            [],
            /^command: expected one of demo, up, down, status, scale, kill, delete, freeze, thaw, roll, logs, drill, rotate-password, chaos, got nothing$/,
        ],
        [["start"], /^command: expected one of demo, up, down, status, .*, got "start"$/],
        [["up", "--master", "3"], /^unknown flag "--master"; allowed: --dir, --masters, --replicas, /],
        [["up", "--masters"], /^--masters: a value is required \(masters, integer >= 3/],
        [["up", "--masters", "2"], /^--masters: expected an integer from 3 to 244, got "2"$/],
        [["up", "--masters=3.5"], /^--masters: expected an integer from 3 to 244, got "3.5"$/],
        [["up", "--replicas", "-1"], /^--replicas: expected an integer from 0 to 5, got "-1"$/],
        [["up", "--block", "256"], /^--block: expected an integer from 0 to 255, got "256"$/],
        [["up", "--app-port", "0"], /^--app-port: expected an integer from 1 to 65535, got "0"$/],
        [["up", "--node-timeout-ms", "100"], /^--node-timeout-ms: expected an integer from 500 to 120000, got "100"$/],
        [["up", "--dir", ""], /^--dir: a value is required/],
        [["up", "--masters", "100", "--replicas", "5"], /^--masters\/--replicas: 600 pods do not fit in one loopback block/],
        // 122 x 2 = 244 members fill a block; the surge pod (default with one replica per master) needs one more address.
        [
            ["up", "--masters", "122", "--replicas", "1"],
            /^--masters\/--replicas: 245 pods do not fit in one loopback block \(at most 244\)$/,
        ],
        [["up", "--no-surge=yes"], /^--no-surge: takes no value$/],
        [["status", "--no-surge"], /^--no-surge: not a flag of status \(it applies to demo, up\)$/],
        [["up", "--probe-period-scale", "0"], /^--probe-period-scale: expected a number from 0.01 to 10, got "0"$/],
        [["up", "--backoff-initial-ms", "-5"], /^--backoff-initial-ms: expected an integer from 0 to 3600000, got "-5"$/],
        [["kill"], /^kill: expected one POD name \(e\.g\. redis-0\), got none$/],
        [["kill", "redis-0", "redis-1"], /^kill: expected one POD name \(e\.g\. redis-0\), got redis-0 redis-1$/],
        [["status", "redis-0"], /^status: takes no POD argument, got redis-0$/],
        [["status", "--masters", "3"], /^--masters: not a flag of status \(it applies to demo, up, scale\)$/],
        [["kill", "redis-0", "--json"], /^--json: not a flag of kill \(it applies to status\)$/],
        [["status", "--json=yes"], /^--json: takes no value$/],
        [["drill", "--delete", "--freeze"], /^--delete, --freeze: choose one disruption$/],
        [
            ["rotate-password", "--user", "default"],
            /^--user: expected one of admin, replication, hitcounter, client, exporter, got "default"$/,
        ],
        [["up", "--user", "admin"], /^--user: not a flag of up \(it applies to rotate-password\)$/],
        [["chaos", "--seed", "1"], /^chaos: --duration and --seed are required \(e\.g\. --duration 60 --seed 1\); missing --duration$/],
        [["chaos", "--duration", "60"], /^chaos: --duration and --seed are required .*; missing --seed$/],
        [["chaos", "--duration", "0", "--seed", "1"], /^--duration: expected an integer from 1 to 86400, got "0"$/],
        [["chaos", "--duration", "10", "--seed", "-1"], /^--seed: expected an integer from 0 to 2147483647, got "-1"$/],
        [["drill", "--seed", "1"], /^--seed: not a flag of drill \(it applies to chaos\)$/],
    ];
    for (const [argv, says] of cases) {
        it(`${JSON.stringify(argv)} is refused, naming the flag and what is allowed`, () => {
            assert.throws(
                () => parseArgs(argv),
                (e: Error) => {
                    assert.ok(e instanceof UsageError, String(e));
                    assert.match(e.message, says);
                    return true;
                },
            );
        });
    }

    it("--no-surge: the block holds the members alone, and the choice reaches the options", () => {
        const o = parseArgs(["up", "--masters", "122", "--replicas", "1", "--no-surge"]);
        assert.strictEqual(o.noSurge, true);
        assert.strictEqual(parseArgs(["up"]).noSurge, undefined);
        // Two replicas per master have no surge pod: 81 x 3 = 243 pods fit.
        assert.doesNotThrow(() => parseArgs(["up", "--masters", "81", "--replicas", "2"]));
    });
});

describe("bad input: the app's environment (app/config.ts parseServerConfig)", () => {
    const base = { REDIS_NODES: "redis-0.redis-headless:6379" };
    const cases: ReadonlyArray<readonly [env: Record<string, string | undefined>, says: RegExp]> = [
        [{ REDIS_NODES: undefined }, /^REDIS_NODES: required, a comma-separated list .*host:port/],
        [{ REDIS_NODES: " " }, /^REDIS_NODES: required/],
        [{ REDIS_NODES: "redis-0" }, /^REDIS_NODES entry "redis-0": expected host:port/],
        [{ REDIS_NODES: "redis-0:6379,,redis-1:6379" }, /^REDIS_NODES entry "": expected host:port/],
        [{ REDIS_NODES: "redis-0:99999" }, /^REDIS_NODES entry "redis-0:99999": expected a port number 1-65535/],
        [{ REDIS_TLS: "yes" }, /^REDIS_TLS: expected "true" or "false", got "yes"$/],
        [
            { REDIS_CA_FILE: "/tls-ca/ca.crt" },
            /^REDIS_CA_FILE: only used with REDIS_TLS=true \(got REDIS_TLS ""\); set REDIS_TLS=true or remove it$/,
        ],
        [{ PORT: "http" }, /^PORT: expected a port number 0-65535, got "http"$/],
        [{ PORT: "70000" }, /^PORT: expected a port number 0-65535/],
        [{ HOST: "0.0.0.0 ::" }, /^HOST: expected an address to listen on/],
        [{ WAIT_REPLICAS: "-1" }, /^WAIT_REPLICAS: expected an integer 0-16, got "-1"$/],
        [{ WAIT_TIMEOUT_MS: "0" }, /^WAIT_TIMEOUT_MS: expected an integer 1-60000, got "0"$/],
        [{ REQUEST_TIMEOUT_MS: "1s" }, /^REQUEST_TIMEOUT_MS: expected an integer 1-600000, got "1s"$/],
        [{ METRICS_PORT: "8080" }, /^METRICS_PORT: expected a port other than PORT \(8080\), got "8080": metrics must not be public$/],
        [{ METRICS_PORT: "-1" }, /^METRICS_PORT: expected a port number 0-65535, got "-1"$/],
        [{ MAX_CONNECTIONS: "unlimited" }, /^MAX_CONNECTIONS: expected an integer 1-100000, got "unlimited"$/],
        [{ MAX_REQUESTS_PER_SOCKET: "0" }, /^MAX_REQUESTS_PER_SOCKET: expected an integer 1-1000000, got "0"$/],
        [{ MAX_PIPELINED_REQUESTS: "5000" }, /^MAX_PIPELINED_REQUESTS: expected an integer 1-1000, got "5000"$/],
        [{ MAX_PENDING_HITS: "0" }, /^MAX_PENDING_HITS: expected an integer 1-100000, got "0"$/],
        [{ HEADERS_TIMEOUT_MS: "500" }, /^HEADERS_TIMEOUT_MS: expected an integer 1000-120000, got "500"$/],
        [{ REQUEST_RECEIVE_TIMEOUT_MS: "5000" }, /^REQUEST_RECEIVE_TIMEOUT_MS: expected at least HEADERS_TIMEOUT_MS \(10000\), got "5000"/],
        [{ KEEP_ALIVE_TIMEOUT_MS: "620s" }, /^KEEP_ALIVE_TIMEOUT_MS: expected an integer 1000-1200000, got "620s"$/],
    ];
    for (const [change, says] of cases) {
        it(`${JSON.stringify(change)} is refused, naming the variable and what is allowed`, () => {
            assert.throws(
                () => parseServerConfig({ ...base, ...change }),
                (e: Error) => {
                    assert.ok(e instanceof ServerConfigError, String(e));
                    assert.match(e.message, says);
                    return true;
                },
            );
        });
    }

    it("a CA file that cannot be read stops the server before it serves, naming REDIS_CA_FILE", () => {
        const config = parseServerConfig({ ...base, REDIS_TLS: "true", REDIS_CA_FILE: "/nonexistent/ca.crt" });
        assert.throws(
            () => redisTlsOptions(config),
            (e: Error) => e instanceof ServerConfigError && /^REDIS_CA_FILE: cannot read \/nonexistent\/ca\.crt \(ENOENT/.test(e.message),
        );
    });
});
