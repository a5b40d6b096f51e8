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
    parseSettings,
    quantityBytes,
} from "../../components/config";
import { podCount } from "../../components/shape";
import { configReferenceTable } from "../../components/configKeys";

const GKE: RawConfig = { "gcp:project": "acme-redis", "gcp:region": "europe-west1" };
const EXISTING: RawConfig = {
    "redis-cluster-gke:target": "existing",
    "redis-cluster-gke:kubeconfig": "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
};

/** Asserts that parsing fails with a ConfigError whose message contains every fragment. */
function refuses(raw: RawConfig, ...fragments: string[]): void {
    assert.throws(
        () => parseSettings(raw),
        (err: unknown) => {
            assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
            for (const f of fragments) assert.ok(err.message.includes(f), `message lacks ${JSON.stringify(f)}:\n${err.message}`);
            return true;
        },
    );
}

describe("config: parseSettings", () => {
    it("fills every default for a minimal GKE stack", () => {
        const s = parseSettings(GKE);
        assert.equal(s.target, "gke");
        assert.equal(s.namespace, "redis");
        assert.deepEqual(s.gke, {
            project: "acme-redis",
            region: "europe-west1",
            nodesPerZone: 1,
            machineType: "e2-standard-2",
            releaseChannel: "REGULAR",
            diskSizeGb: 50,
        });
        assert.ok(!("kubeconfig" in s), "a gke target carries no kubeconfig");
        assert.equal(s.redis.masters, 3);
        assert.equal(s.redis.replicasPerMaster, 1);
        assert.equal(s.redis.image, DEFAULT_REDIS_IMAGE);
        assert.equal(s.redis.exporterImage, DEFAULT_EXPORTER_IMAGE);
        assert.equal(s.redis.exporter, true);
        assert.equal(s.redis.nodeTimeoutMs, DEFAULT_NODE_TIMEOUT_MS);
        assert.equal(s.redis.storageSize, "1Gi");
        assert.equal(s.redis.storageClass, undefined);
        assert.equal(s.redis.password, undefined);
        assert.equal(s.redis.tls, false);
        assert.deepEqual(s.redis.resources, { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } });
        assert.deepEqual(s.app, { replicas: 2, serviceType: "LoadBalancer", image: undefined, nodeImage: DEFAULT_NODE_IMAGE });
    });

    it("pins every default image by tag, never latest", () => {
        for (const image of [DEFAULT_REDIS_IMAGE, DEFAULT_EXPORTER_IMAGE, DEFAULT_NODE_IMAGE]) {
            assert.match(image, /:v?[0-9][\w.-]*$/, image);
        }
    });

    it("reads every documented key", () => {
        const s = parseSettings({
            ...EXISTING,
            "redis-cluster-gke:namespace": "cache",
            "redis:masters": "5",
            "redis:replicasPerMaster": "2",
            "redis:image": "redis:7.2.6-bookworm",
            "redis:exporter": "false",
            "redis:exporterImage": "oliver006/redis_exporter:v1.65.0",
            "redis:nodeTimeoutMs": "5000",
            "redis:storageSize": "10Gi",
            "redis:storageClass": "premium-rwo",
            "redis:cpuRequest": "250m",
            "redis:cpuLimit": "2",
            "redis:memoryRequest": "1Gi",
            "redis:memoryLimit": "2Gi",
            "redis:password": "correct-horse-battery-staple",
            "redis:tls": "false",
            "app:replicas": "3",
            "app:serviceType": "ClusterIP",
            "app:image": "ghcr.io/acme/hit-counter:1.0.0",
            "app:nodeImage": "node:20.18.0-alpine3.20",
        });
        assert.ok(s.target === "existing");
        assert.equal(s.kubeconfig, EXISTING["redis-cluster-gke:kubeconfig"]);
        assert.ok(!("gke" in s), "an existing target carries no GKE settings");
        assert.equal(s.namespace, "cache");
        assert.equal(podCount(s.redis), 15);
        assert.equal(s.redis.exporter, false);
        assert.equal(s.redis.nodeTimeoutMs, 5000);
        assert.equal(s.redis.storageClass, "premium-rwo");
        assert.deepEqual(s.redis.resources, { requests: { cpu: "250m", memory: "1Gi" }, limits: { cpu: "2", memory: "2Gi" } });
        assert.equal(s.redis.password, "correct-horse-battery-staple");
        assert.deepEqual(s.app, {
            replicas: 3,
            serviceType: "ClusterIP",
            image: "ghcr.io/acme/hit-counter:1.0.0",
            nodeImage: "node:20.18.0-alpine3.20",
        });
        // The documented key list is the parser's key list.
        assert.equal(Object.keys(CONFIG_KEYS).length, 27);
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

    it("refuses a memory request above the limit", () => {
        refuses({ ...GKE, "redis:memoryRequest": "1Gi", "redis:memoryLimit": "512Mi" }, "redis:memoryRequest", "must not exceed");
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
        assert.doesNotThrow(() => parseSettings(EXISTING));
    });

    it("refuses unknown enum values with the allowed list", () => {
        refuses({ ...GKE, "gke:releaseChannel": "beta" }, "gke:releaseChannel", "REGULAR, STABLE, EXTENDED");
        refuses({ ...GKE, "app:serviceType": "Ingress" }, "app:serviceType", "LoadBalancer, ClusterIP, NodePort");
        refuses({ ...GKE, "redis:exporter": "yes" }, "redis:exporter", "true or false");
    });

    it("refuses tls true with a reason instead of silently running without TLS", () => {
        refuses({ ...GKE, "redis:tls": "true" }, "redis:tls", "not supported yet", "use false");
    });

    it("refuses a weak password without echoing it", () => {
        assert.throws(
            () => parseSettings({ ...GKE, "redis:password": "hunter2" }),
            (err: Error) => {
                assert.match(err.message, /redis:password: use at least 16/);
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
        assert.doesNotThrow(() => parseSettings({ ...GKE, "gcp:zone": "europe-west1-b", "kubernetes:context": "x" }));
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
        const s = parseSettings(raw);
        const defaults = parseSettings({ "gcp:project": raw["gcp:project"], "gcp:region": raw["gcp:region"] });
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
