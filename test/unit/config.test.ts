import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import {
    CONFIG_KEYS,
    ConfigError,
    DEFAULT_EXPORTER_IMAGE,
    DEFAULT_NODE_IMAGE,
    DEFAULT_NODE_TIMEOUT_MS,
    DEFAULT_REDIS_IMAGE,
    RawConfig,
    SECRET_CONFIG_KEYS,
    parseSettings,
    quantityBytes,
} from "../../components/config";
import { podCount } from "../../components/shape";
import { configReferenceTable } from "../../components/configKeys";
import { newCertificateAuthority } from "../../lib/x509";

const GKE: RawConfig = { "gcp:project": "acme-redis", "gcp:region": "europe-west1" };
const EXISTING: RawConfig = {
    "redis-cluster-gke:target": "existing",
    "redis-cluster-gke:kubeconfig": "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
};

/** Asserts that parsing fails with a ConfigError whose message contains every fragment. */
function refuses(raw: RawConfig, ...fragments: string[]): void {
    assert.throws(
        () => parseSettings(raw, SECRET_CONFIG_KEYS),
        (err: unknown) => {
            assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
            for (const f of fragments) assert.ok(err.message.includes(f), `message lacks ${JSON.stringify(f)}:\n${err.message}`);
            return true;
        },
    );
}

/** A CA of the user's (lib/x509.ts), for redis:tlsCaCertificate / redis:tlsCaKey. */
const USER_CA = newCertificateAuthority("our CA", 3650);

describe("config: parseSettings", () => {
    it("fills every default for a minimal GKE stack", () => {
        const s = parseSettings(GKE, SECRET_CONFIG_KEYS);
        assert.equal(s.target, "gke");
        assert.equal(s.namespace, "redis");
        assert.deepEqual(s.gke, {
            project: "acme-redis",
            region: "europe-west1",
            nodesPerZone: 1,
            machineType: "e2-standard-2",
            releaseChannel: "REGULAR",
            diskSizeGb: 50,
            deletionProtection: true,
            privateNodes: true,
            authorizedNetworks: [],
            kubeconfigEndpoint: "dns",
            upgrade: { maxSurge: 1, maxUnavailable: 0 },
            maintenanceWindow: undefined,
            maintenanceExclusions: [],
        });
        assert.ok(!("kubeconfig" in s), "a gke target carries no kubeconfig");
        assert.equal(s.retainOnDestroy, true);
        assert.equal(s.createRetainStorageClass, true);
        assert.equal(s.redis.masters, 3);
        assert.equal(s.redis.replicasPerMaster, 1);
        assert.equal(s.redis.image, DEFAULT_REDIS_IMAGE);
        assert.equal(s.redis.exporterImage, DEFAULT_EXPORTER_IMAGE);
        assert.equal(s.redis.exporter, true);
        assert.equal(s.redis.nodeTimeoutMs, DEFAULT_NODE_TIMEOUT_MS);
        assert.equal(s.redis.storageSize, "1Gi");
        assert.equal(s.redis.storageClass, "redis-retain");
        assert.deepEqual(s.redis.passwords, {}, "every user gets a generated password");
        assert.deepEqual(s.redis.allowedClients, []);
        assert.equal(s.redis.tls, true, "TLS is on by default");
        assert.equal(s.redis.tlsCa, undefined, "the stack makes its own CA");
        assert.deepEqual(s.redis.resources, { requests: { cpu: "100m", memory: "512Mi" }, limits: { cpu: "1", memory: "512Mi" } });
        assert.equal(s.redis.zoneSpread, "required");
        assert.equal(s.redis.minZones, 3);
        assert.deepEqual(s.redis.metricsNamespaces, ["gmp-system"]);
        assert.equal(s.redis.podMonitoring, true);
        assert.deepEqual(s.app, { replicas: 2, serviceType: "LoadBalancer", image: undefined, nodeImage: DEFAULT_NODE_IMAGE });
    });

    it("pins every default image by digest and keeps a version tag for readers", () => {
        for (const image of [DEFAULT_REDIS_IMAGE, DEFAULT_EXPORTER_IMAGE, DEFAULT_NODE_IMAGE]) {
            assert.match(image, /:v?[0-9][\w.-]*@sha256:[0-9a-f]{64}$/, image);
        }
        // Redis 7.2.11 fixes CVE-2025-49844 (Lua use-after-free), 7.2.8 CVE-2025-21605.
        const [major, minor, patch] = /^redis:(\d+)\.(\d+)\.(\d+)-/.exec(DEFAULT_REDIS_IMAGE)!.slice(1).map(Number);
        assert.ok(major > 7 || (major === 7 && (minor > 2 || (minor === 2 && patch >= 11))), DEFAULT_REDIS_IMAGE);
        // The exporter's /scrape and key-value switches came in v1.83.0.
        const [, exMinor] = /:v1\.(\d+)\./.exec(DEFAULT_EXPORTER_IMAGE)!;
        assert.ok(Number(exMinor) >= 83, DEFAULT_EXPORTER_IMAGE);
    });

    it("reads every documented key", () => {
        const s = parseSettings(
            {
                ...EXISTING,
                "redis-cluster-gke:namespace": "cache",
                "redis:masters": "5",
                "redis:replicasPerMaster": "2",
                "redis:image": "redis:7.2.6-bookworm",
                "redis:exporter": "false",
                "redis:exporterImage": "oliver006/redis_exporter:v1.65.0",
                "redis:nodeTimeoutMs": "5000",
                "redis:handover": "false",
                "redis:takeover": "false",
                "redis:surgeReplica": "false",
                "redis:storageSize": "10Gi",
                "redis:storageClass": "premium-rwo",
                "redis:cpuRequest": "250m",
                "redis:cpuLimit": "2",
                "redis:memoryLimit": "2Gi",
                "redis:zoneSpread": "preferred",
                "redis:minZones": "2",
                "redis:metricsNamespaces": "monitoring, gmp-system",
                "redis:podMonitoring": "false",
                "redis-cluster-gke:retainOnDestroy": "false",
                "redis-cluster-gke:postDeployCheck": "false",
                "redis:adminPassword": "correct-horse-battery-staple",
                "redis:tls": "true",
                "redis:tlsCaCertificate": USER_CA.certPem,
                "redis:tlsCaKey": USER_CA.keyPem,
                "app:replicas": "3",
                "app:serviceType": "ClusterIP",
                "app:image": "ghcr.io/acme/hit-counter:1.0.0",
                "app:nodeImage": "node:24.20.0-alpine3.24",
            },
            SECRET_CONFIG_KEYS,
        );
        assert.ok(s.target === "existing");
        assert.equal(s.kubeconfig, EXISTING["redis-cluster-gke:kubeconfig"]);
        assert.ok(!("gke" in s), "an existing target carries no GKE settings");
        assert.equal(s.namespace, "cache");
        assert.equal(podCount(s.redis), 15);
        assert.equal(s.redis.exporter, false);
        assert.equal(s.redis.nodeTimeoutMs, 5000);
        assert.deepEqual([s.redis.handover, s.redis.takeover, s.redis.surgeReplica], [false, false, false]);
        assert.equal(s.redis.storageClass, "premium-rwo");
        assert.deepEqual(s.redis.resources, { requests: { cpu: "250m", memory: "2Gi" }, limits: { cpu: "2", memory: "2Gi" } });
        assert.deepEqual(s.redis.passwords, { admin: "correct-horse-battery-staple" });
        assert.equal(s.redis.zoneSpread, "preferred");
        assert.equal(s.redis.minZones, 2);
        assert.deepEqual(s.redis.metricsNamespaces, ["monitoring", "gmp-system"]);
        assert.equal(s.redis.podMonitoring, false);
        assert.deepEqual(s.redis.tlsCa, { certificatePem: USER_CA.certPem, keyPem: USER_CA.keyPem });
        assert.equal(s.retainOnDestroy, false);
        assert.equal(s.postDeployCheck, false);
        assert.equal(s.createRetainStorageClass, false, "an existing cluster gets no GKE StorageClass");
        assert.deepEqual(s.app, {
            replicas: 3,
            serviceType: "ClusterIP",
            image: "ghcr.io/acme/hit-counter:1.0.0",
            nodeImage: "node:24.20.0-alpine3.24",
        });
        // The documented key list is the parser's key list.
        assert.equal(Object.keys(CONFIG_KEYS).length, 51);
    });

    it("reads the GKE keys: deletion protection, private nodes, authorized networks", () => {
        const s = parseSettings(
            {
                ...GKE,
                "gke:deletionProtection": "false",
                "gke:privateNodes": "false",
                "gke:authorizedNetworks": "203.0.113.0/24, 198.51.100.7/32, 255.255.255.0/24",
                "gke:kubeconfigEndpoint": "ip",
                "redis:storageClass": "premium-rwo",
            },
            SECRET_CONFIG_KEYS,
        );
        assert.ok(s.target === "gke");
        assert.equal(s.gke.deletionProtection, false);
        assert.equal(s.gke.privateNodes, false);
        assert.deepEqual(s.gke.authorizedNetworks, ["203.0.113.0/24", "198.51.100.7/32", "255.255.255.0/24"]);
        assert.equal(s.gke.kubeconfigEndpoint, "ip");
        assert.equal(s.createRetainStorageClass, false, "a configured class replaces the one the stack would create");
        assert.equal(s.redis.storageClass, "premium-rwo");
    });

    it("reads the node pool's upgrade and the maintenance window and exclusions; by default surge one node, no window", () => {
        const plain = parseSettings(GKE, SECRET_CONFIG_KEYS);
        assert.ok(plain.target === "gke");
        assert.deepEqual(plain.gke.upgrade, { maxSurge: 1, maxUnavailable: 0 });
        assert.deepEqual([plain.gke.maintenanceWindow, plain.gke.maintenanceExclusions], [undefined, []]);
        const s = parseSettings(
            {
                ...GKE,
                "gke:upgradeMaxSurge": "0",
                "gke:upgradeMaxUnavailable": "1",
                "gke:maintenanceWindow": "MO,TU,WE 23:30-04:00",
                "gke:maintenanceExclusions": "sale=2026-11-26T00:00:00Z/2026-11-30T00:00:00Z",
            },
            SECRET_CONFIG_KEYS,
        );
        assert.ok(s.target === "gke");
        assert.deepEqual(s.gke.upgrade, { maxSurge: 0, maxUnavailable: 1 });
        assert.deepEqual(s.gke.maintenanceWindow, { days: ["MO", "TU", "WE"], start: "23:30", minutes: 270 });
        assert.deepEqual(s.gke.maintenanceExclusions, [
            { name: "sale", start: "2026-11-26T00:00:00Z", end: "2026-11-30T00:00:00Z", scope: "NO_UPGRADES" },
        ]);
    });

    it("refuses maintenance settings GKE would refuse, naming the rule", () => {
        const window = { ...GKE, "gke:maintenanceWindow": "daily 02:00-06:00" };
        refuses(
            { ...GKE, "gke:maintenanceWindow": "SU 02:00-06:00" },
            "gke:maintenanceWindow",
            "16 hours in some 32 days; GKE wants at least 48",
        );
        refuses({ ...GKE, "gke:maintenanceWindow": "daily 02:00-05:00" }, "gke:maintenanceWindow", "4 hours or more");
        refuses({ ...GKE, "gke:maintenanceWindow": "SA,SA 00:00-12:00" }, "gke:maintenanceWindow", "listed twice");
        refuses({ ...GKE, "gke:maintenanceWindow": "weekends 01:00-07:00" }, "gke:maintenanceWindow", "MO,TU,WE,TH,FR,SA,SU");
        refuses(
            { ...window, "gke:maintenanceExclusions": "x=2026-11-01T00:00:00Z/2026-12-15T00:00:00Z" },
            "gke:maintenanceExclusions",
            "at most 30 days",
        );
        refuses(
            { ...window, "gke:maintenanceExclusions": "x=2026-12-01T00:00:00Z/2026-11-01T00:00:00Z" },
            "gke:maintenanceExclusions",
            "ends at or before it starts",
        );
        refuses({ ...window, "gke:maintenanceExclusions": "x=2026-11-01/2026-11-02" }, "gke:maintenanceExclusions", "RFC 3339 in UTC");
        refuses(
            { ...window, "gke:maintenanceExclusions": "x=2026-11-01T00:00:00Z/2026-11-02T00:00:00Z/NO_PATCHES" },
            "gke:maintenanceExclusions",
            "not one of NO_UPGRADES, NO_MINOR_UPGRADES, NO_MINOR_OR_NODE_UPGRADES",
        );
        const four = ["a", "b", "c", "d"].map((n, i) => `${n}=2026-0${i + 1}-01T00:00:00Z/2026-0${i + 1}-02T00:00:00Z`).join(",");
        refuses({ ...window, "gke:maintenanceExclusions": four }, "gke:maintenanceExclusions", "at most 3 NO_UPGRADES");
        // A long NO_MINOR_UPGRADES exclusion is fine.
        assert.doesNotThrow(() =>
            parseSettings(
                { ...window, "gke:maintenanceExclusions": "q=2026-11-01T00:00:00Z/2027-03-01T00:00:00Z/NO_MINOR_UPGRADES" },
                SECRET_CONFIG_KEYS,
            ),
        );
    });

    it("refuses authorized networks that are most of the internet or not networks", () => {
        // 256.0.0.0/8 and 10.300.0.0/16: an octet past 255 (mutation testing found no case of it).
        for (const bad of [
            "0.0.0.0/0",
            "0.0.0.0/1,128.0.0.0/1",
            "10.0.0.1/8",
            "203.0.113.0/33",
            "example.com",
            "203.0.113.0/24,",
            "256.0.0.0/8",
            "10.300.0.0/16",
        ]) {
            refuses({ ...GKE, "gke:authorizedNetworks": bad }, "gke:authorizedNetworks", "/8 or longer");
        }
    });

    it("memory: request = limit, maxmemory half of it, the volume 4 x maxmemory by default and never less", () => {
        const s = parseSettings({ ...GKE, "redis:memoryLimit": "3Gi" }, SECRET_CONFIG_KEYS);
        assert.deepEqual(s.redis.resources.requests.memory, "3Gi");
        assert.equal(s.redis.storageSize, "6Gi", "4 x 1.5Gi");
        assert.equal(
            parseSettings({ ...GKE, "redis:memoryLimit": "600Mi" }, SECRET_CONFIG_KEYS).redis.storageSize,
            "2Gi",
            "rounded up to whole Gi",
        );
        refuses(
            { ...GKE, "redis:storageSize": "512Mi" },
            "redis:storageSize: 512Mi is below 4 x maxmemory (1Gi for redis:memoryLimit 512Mi)",
        );
        refuses({ ...GKE, "redis:memoryLimit": "4Gi", "redis:storageSize": "5Gi" }, "redis:storageSize", "use at least 8Gi");
        assert.doesNotThrow(() => parseSettings({ ...GKE, "redis:memoryLimit": "4Gi", "redis:storageSize": "8Gi" }, SECRET_CONFIG_KEYS));
        refuses({ ...GKE, "redis:memoryLimit": "128Mi" }, "redis:memoryLimit: 128Mi is below 256Mi");
    });

    it("refuses redis:memoryRequest, which is retired, saying why and what to do", () => {
        refuses({ ...GKE, "redis:memoryRequest": "256Mi" }, "redis:memoryRequest: no longer read", "pulumi config rm redis:memoryRequest");
    });

    it("a PodMonitoring is on by default on GKE only, and needs the exporter", () => {
        assert.equal(parseSettings(EXISTING, SECRET_CONFIG_KEYS).redis.podMonitoring, false);
        assert.equal(parseSettings({ ...EXISTING, "redis:podMonitoring": "true" }, SECRET_CONFIG_KEYS).redis.podMonitoring, true);
        assert.equal(parseSettings({ ...GKE, "redis:exporter": "false" }, SECRET_CONFIG_KEYS).redis.podMonitoring, false);
        refuses(
            { ...GKE, "redis:exporter": "false", "redis:podMonitoring": "true" },
            "redis:podMonitoring: true needs redis:exporter true",
        );
    });

    it("a surge pod by default exactly with one replica per master; asked for with another count it is refused, naming the key, the value and the allowed values", () => {
        const surge = (extra: RawConfig) => parseSettings({ ...GKE, ...extra }, SECRET_CONFIG_KEYS).redis.surgeReplica;
        assert.equal(surge({}), true, "the default shape (3x1) gets the surge pod");
        assert.equal(surge({ "redis:replicasPerMaster": "1", "redis:surgeReplica": "false" }), false);
        assert.equal(surge({ "redis:replicasPerMaster": "1", "redis:surgeReplica": "true" }), true);
        assert.equal(surge({ "redis:replicasPerMaster": "2" }), false, "two replicas: a stop leaves another");
        assert.equal(surge({ "redis:replicasPerMaster": "0" }), false, "no replicas: nothing waits for one");
        assert.equal(surge({ "redis:replicasPerMaster": "2", "redis:surgeReplica": "false" }), false);
        refuses(
            { ...GKE, "redis:replicasPerMaster": "2", "redis:surgeReplica": "true" },
            "redis:surgeReplica: true needs redis:replicasPerMaster 1 (it is 2: with two or more replicas a stop leaves another in-sync replica); allowed: true, false",
        );
        refuses(
            { ...GKE, "redis:replicasPerMaster": "0", "redis:surgeReplica": "true" },
            "redis:surgeReplica: true needs redis:replicasPerMaster 1 (it is 0: with none no write waits for a replica); allowed: true, false",
        );
    });

    it("refuses the password and the kubeconfig set in plain text, with the command that fixes it and without the value", () => {
        const password = "a-plain-text-password-0123";
        const raw = { ...EXISTING, "redis:adminPassword": password };
        assert.throws(
            () => parseSettings(raw, new Set()),
            (err: Error) => {
                assert.ok(err instanceof ConfigError);
                for (const key of ["redis:adminPassword", "redis-cluster-gke:kubeconfig"]) {
                    assert.ok(
                        err.message.includes(`${key}: set in plain text`) &&
                            err.message.includes(`pulumi config set --secret ${key} "$(pulumi config get ${key})"`),
                        err.message,
                    );
                }
                assert.ok(!err.message.includes(password) && !err.message.includes("clusters: []"), "a secret value is echoed");
                return true;
            },
        );
        // Set as secrets (the engine lists them), both are accepted; other keys may be secret too.
        assert.doesNotThrow(() => parseSettings(raw, new Set(["redis:adminPassword", "redis-cluster-gke:kubeconfig", "redis:masters"])));
        // Absent keys need nothing.
        assert.doesNotThrow(() => parseSettings(GKE, new Set()));
    });

    it("refuses fewer than 3 masters, naming the key and the allowed range", () => {
        refuses({ ...GKE, "redis:masters": "2" }, "redis:masters", '"2"', "from 3 to");
    });

    it("refuses negative, fractional and non-numeric counts", () => {
        refuses({ ...GKE, "redis:replicasPerMaster": "-1" }, "redis:replicasPerMaster", "from 0 to 5");
        refuses({ ...GKE, "redis:masters": "3.5" }, "redis:masters", "whole number");
        refuses({ ...GKE, "app:replicas": "two" }, "app:replicas", "whole number");
        refuses({ ...GKE, "gke:nodesPerZone": "0" }, "gke:nodesPerZone", "from 1 to");
    });

    it("refuses a size that is not a Kubernetes quantity", () => {
        refuses({ ...GKE, "redis:storageSize": "lots" }, "redis:storageSize", "Kubernetes quantity");
        refuses({ ...GKE, "redis:memoryLimit": "1GB" }, "redis:memoryLimit", "Kubernetes quantity");
        refuses({ ...GKE, "redis:cpuLimit": "1 core" }, "redis:cpuLimit", "CPU quantity");
    });

    it("refuses an unknown target and lists the allowed ones", () => {
        refuses({ ...GKE, "redis-cluster-gke:target": "eks" }, "redis-cluster-gke:target", '"eks"', "gke, existing");
    });

    it("refuses target existing without a kubeconfig, and a kubeconfig with target gke", () => {
        refuses({ "redis-cluster-gke:target": "existing" }, "redis-cluster-gke:kubeconfig", "required for target existing");
        refuses({ ...GKE, "redis-cluster-gke:kubeconfig": "x" }, "redis-cluster-gke:kubeconfig", "only used with target existing");
    });

    it("requires the GCP project and region for target gke only", () => {
        refuses({}, "gcp:project: required", "gcp:region: required");
        assert.doesNotThrow(() => parseSettings(EXISTING, SECRET_CONFIG_KEYS));
    });

    it("refuses unknown enum values with the allowed list", () => {
        refuses({ ...GKE, "gke:releaseChannel": "beta" }, "gke:releaseChannel", "REGULAR, STABLE, EXTENDED");
        refuses({ ...GKE, "app:serviceType": "Ingress" }, "app:serviceType", "LoadBalancer, ClusterIP, NodePort");
        refuses({ ...GKE, "redis:exporter": "yes" }, "redis:exporter", "true or false");
    });

    it("TLS can be switched off (for clients that cannot speak it); a CA of the user's is refused with it, not ignored", () => {
        assert.equal(parseSettings({ ...GKE, "redis:tls": "false" }, SECRET_CONFIG_KEYS).redis.tls, false);
        refuses(
            { ...GKE, "redis:tls": "false", "redis:tlsCaCertificate": USER_CA.certPem, "redis:tlsCaKey": USER_CA.keyPem },
            "redis:tlsCaCertificate: only used with redis:tls true",
            "redis:tlsCaKey: only used with redis:tls true",
        );
    });

    it("a user's CA whose key is another's is refused without showing either", () => {
        const other = newCertificateAuthority("other CA", 3650);
        assert.throws(
            () => parseSettings({ ...GKE, "redis:tlsCaCertificate": USER_CA.certPem, "redis:tlsCaKey": other.keyPem }, SECRET_CONFIG_KEYS),
            (err: Error) => {
                assert.match(err.message, /redis:tlsCaKey: not the private key of redis:tlsCaCertificate/);
                assert.ok(!err.message.includes("PRIVATE KEY") && !err.message.includes("CERTIFICATE-----"));
                return true;
            },
        );
    });

    it("refuses a weak password without echoing it", () => {
        assert.throws(
            () => parseSettings({ ...GKE, "redis:adminPassword": "hunter2" }, SECRET_CONFIG_KEYS),
            (err: Error) => {
                assert.match(err.message, /redis:adminPassword: too short \(7 characters\); use 16 to 128 characters: letters, digits/);
                assert.ok(!err.message.includes("hunter2"));
                return true;
            },
        );
    });

    it("refuses a namespace that is not a DNS label", () => {
        refuses({ ...GKE, "redis-cluster-gke:namespace": "Redis_Prod" }, "redis-cluster-gke:namespace", "DNS label");
    });

    it("refuses typos in its own namespaces but ignores other packages' keys", () => {
        refuses({ ...GKE, "redis:master": "3" }, "redis:master: unknown key", "redis:masters");
        refuses({ ...GKE, "app:serviceTyp": "ClusterIP" }, "app:serviceTyp: unknown key");
        assert.doesNotThrow(() => parseSettings({ ...GKE, "gcp:zone": "europe-west1-b", "kubernetes:context": "x" }, SECRET_CONFIG_KEYS));
    });

    it("reports every problem in one error", () => {
        refuses(
            { "redis-cluster-gke:target": "existing", "redis:masters": "1", "redis:storageSize": "big" },
            "kubeconfig",
            "redis:masters",
            "redis:storageSize",
        );
    });
});

describe("config: Pulumi.dev.yaml", () => {
    it("is a complete, valid example: every key it sets is known and its values are the defaults", () => {
        const file = YAML.parse(fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.dev.yaml"), "utf8"));
        const raw: Record<string, string> = {};
        for (const [k, v] of Object.entries(file.config as Record<string, unknown>)) raw[k] = String(v);
        const s = parseSettings(raw, SECRET_CONFIG_KEYS);
        const defaults = parseSettings({ "gcp:project": raw["gcp:project"], "gcp:region": raw["gcp:region"] }, SECRET_CONFIG_KEYS);
        assert.deepEqual(s, defaults);
        // Every key appears, set or as a commented example.
        const text = fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.dev.yaml"), "utf8");
        for (const key of Object.keys(CONFIG_KEYS)) assert.ok(text.includes(key), `Pulumi.dev.yaml does not mention ${key}`);
    });
});

describe("config: quantityBytes", () => {
    it("understands binary and decimal suffixes", () => {
        assert.equal(quantityBytes("512Mi"), 512 * 2 ** 20);
        assert.equal(quantityBytes("1Gi"), 2 ** 30);
        assert.equal(quantityBytes("1G"), 1e9);
        assert.equal(quantityBytes("1.5Gi"), 1.5 * 2 ** 30);
        assert.equal(quantityBytes("1000"), 1000);
        assert.throws(() => quantityBytes("1GB"), /not a Kubernetes quantity/);
    });
});

describe("config: README", () => {
    const readme = fs.readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");

    it("its config reference table is the one generated from the key declarations (npm run -s docs:config)", () => {
        assert.ok(
            readme.includes(configReferenceTable() + "\n"),
            `README's config table differs from the declarations; replace it with:\n${configReferenceTable()}`,
        );
    });

    it("its example error is the message parseSettings really gives", () => {
        const example = /for example\s+`([^`]+)`/.exec(readme)?.[1];
        assert.ok(example, "README has no example error after the config table");
        refuses({ ...GKE, "redis:masters": "2" }, example);
    });
});
