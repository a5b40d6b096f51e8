/**
 * Every policy of the pack flags hand-made bad resources and passes the good stack.
 * A bad case is the good stack with one member changed, so each case shows the one
 * thing the policy is about.
 */
import { strict as assert } from "assert";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { policies, resourcePolicies, stackPolicies } from "../../policy/policies";
import {
    GkeClusterProps,
    GkeNodePoolProps,
    IConfigMap,
    IDeployment,
    INetworkPolicy,
    IPodDisruptionBudget,
    IService,
    IStatefulSet,
    TYPES,
} from "../../policy/shapes";
import { PackConfig, SubjectResource, emptyOutcome, urnOf, runResourcePolicy, runStackPolicy, runPack } from "./harness";
import { goodStack, subject, variant } from "./fixtures";

type Stack = Record<string, SubjectResource>;

function isStackPolicy(p: ResourceValidationPolicy | StackValidationPolicy): p is StackValidationPolicy {
    return "validateStack" in p;
}

async function violationsOf(policyName: string, stack: Stack, config: PackConfig = {}) {
    const p = policies.find((x) => x.name === policyName);
    assert.ok(p, `no policy named ${policyName}`);
    const out = emptyOutcome();
    if (isStackPolicy(p)) await runStackPolicy(p, Object.values(stack), config, out);
    else for (const r of Object.values(stack)) await runResourcePolicy(p, r, config, out);
    return out.violations;
}

/** The good stack with `key`'s props replaced by `change(copy of them)`. */
function withChange<T>(key: string, change: (props: T) => void): Stack {
    const stack = goodStack();
    const r = stack[key];
    stack[key] = { ...r, props: variant(r.props as unknown as T, change) as unknown as Record<string, unknown> };
    return stack;
}

function without(key: string): Stack {
    const stack = goodStack();
    delete stack[key];
    return stack;
}

const redisContainer = (w: IStatefulSet | IDeployment) => w.spec!.template.spec!.containers[0];
const setConf = (line: RegExp, replacement: string) => (cm: IConfigMap) => {
    cm.data!["redis.conf"] = cm.data!["redis.conf"].replace(line, replacement);
};

interface BadCase {
    readonly why: string;
    readonly stack: () => Stack;
    readonly config?: PackConfig;
    /** Expected text in the violation message. */
    readonly says: RegExp;
}

const cases: Record<string, BadCase[]> = {
    "redis-password-from-secret": [
        {
            why: "no password env",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void (redisContainer(s).env = [])),
            says: /no password from a Secret/,
        },
        {
            why: "password as a literal env value",
            stack: () =>
                withChange<IStatefulSet>(
                    "statefulSet",
                    (s) => void (redisContainer(s).env = [{ name: "REDIS_PASSWORD", value: "hunter2" }]),
                ),
            says: /'redis' gets no password/,
        },
    ],
    "redis-protected-mode": [
        {
            why: "protected-mode no and nothing sets requirepass",
            stack: () =>
                withChange<IConfigMap>("configMap", (cm) => {
                    setConf(/protected-mode yes/, "protected-mode no")(cm);
                    delete cm.data!["node-start.sh"];
                }),
            says: /protected-mode no/,
        },
    ],
    "redis-masterauth": [
        {
            why: "start script sets requirepass only",
            stack: () =>
                withChange<IConfigMap>(
                    "configMap",
                    (cm) =>
                        void (cm.data!["node-start.sh"] =
                            'echo "requirepass $REDIS_PASSWORD" > /run/redis/redis.conf\n# masterauth left out\nexec "$@"'),
                ),
            says: /'masterauth'.*never sync/,
        },
    ],
    "redis-persistence": [
        {
            why: "no volumeClaimTemplates",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void delete s.spec!.volumeClaimTemplates),
            says: /mounts no volumeClaimTemplate/,
        },
        {
            why: "appendonly no",
            stack: () => withChange<IConfigMap>("configMap", setConf(/appendonly yes/, "appendonly no")),
            says: /appendonly yes/,
        },
    ],
    "redis-cluster-size": [
        {
            why: "3 pods",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void (s.spec!.replicas = 3)),
            says: /has 3 pods.*need 6/,
        },
        {
            why: "formation with 2 masters",
            stack: () => withChange<Record<string, unknown>>("formation", (f) => void (f.masters = 2)),
            says: /2 masters/,
        },
        {
            why: "formation without replicas",
            stack: () => withChange<Record<string, unknown>>("formation", (f) => void (f.replicasPerMaster = 0)),
            says: /0 replicas per master/,
        },
        {
            why: "config asks for 2 replicas per master",
            stack: goodStack,
            config: { "redis-cluster-size": { minReplicasPerMaster: 2 } },
            says: /need 9/,
        },
    ],
    "redis-image-pinned": [
        {
            why: "redis:latest",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void (redisContainer(s).image = "redis:latest")),
            says: /redis:latest/,
        },
        {
            why: "no tag",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void (redisContainer(s).image = "docker.io:443/library/redis")),
            says: /pin a version/,
        },
        {
            why: "app image untagged",
            stack: () => withChange<IDeployment>("app", (d) => void (redisContainer(d).image = "node")),
            says: /'app' uses image 'node'/,
        },
    ],
    "redis-version": [
        {
            why: "the tutorial's Redis 5",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void (redisContainer(s).image = "redis:5.0.1-alpine")),
            says: /Redis 5/,
        },
        { why: "config demands 8", stack: goodStack, config: { "redis-version": { minMajorVersion: 8 } }, says: /8\+ is needed/ },
    ],
    "redis-resources": [
        {
            why: "no memory limit",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void delete redisContainer(s).resources!.limits),
            says: /limits\.memory/,
        },
        {
            why: "no resources at all",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void delete redisContainer(s).resources),
            says: /requests\.cpu, requests\.memory, limits\.memory/,
        },
        {
            why: "CPU limit required by config",
            stack: goodStack,
            config: { "redis-resources": { requireCpuLimit: true } },
            says: /limits\.cpu/,
        },
    ],
    "redis-probes": [
        {
            why: "no liveness probe",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void delete redisContainer(s).livenessProbe),
            says: /no livenessProbe/,
        },
        {
            why: "no probes",
            stack: () =>
                withChange<IStatefulSet>("statefulSet", (s) => {
                    delete redisContainer(s).livenessProbe;
                    delete redisContainer(s).readinessProbe;
                }),
            says: /readinessProbe and livenessProbe/,
        },
    ],
    "redis-spread": [
        {
            why: "no spread",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void delete s.spec!.template.spec!.topologySpreadConstraints),
            says: /no topology spread/,
        },
        {
            why: "spread on an unrelated key",
            stack: () =>
                withChange<IStatefulSet>(
                    "statefulSet",
                    (s) => void (s.spec!.template.spec!.topologySpreadConstraints![0].topologyKey = "example.com/rack"),
                ),
            says: /no topology spread/,
        },
    ],
    "redis-node-timeout": [
        {
            why: "the tutorial's 15000",
            stack: () => withChange<IConfigMap>("configMap", setConf(/cluster-node-timeout \d+/, "cluster-node-timeout 15000")),
            says: /15000 ms/,
        },
        {
            why: "absent (Redis default 15000)",
            stack: () => withChange<IConfigMap>("configMap", setConf(/cluster-node-timeout \d+\n/, "")),
            says: /15000 ms/,
        },
        {
            why: "too eager",
            stack: () => withChange<IConfigMap>("configMap", setConf(/cluster-node-timeout \d+/, "cluster-node-timeout 300")),
            says: /300 ms/,
        },
        {
            why: "config narrows the range",
            stack: goodStack,
            config: { "redis-node-timeout": { minMs: 5000 } },
            says: /2000 ms, outside \[5000, 10000\]/,
        },
    ],
    "redis-pod-disruption-budget": [
        { why: "no PDB", stack: () => without("pdb"), says: /No PodDisruptionBudget/ },
        {
            why: "PDB selects other pods",
            stack: () => withChange<IPodDisruptionBudget>("pdb", (p) => void (p.spec!.selector = { matchLabels: { app: "hit-counter" } })),
            says: /No PodDisruptionBudget/,
        },
        {
            why: "PDB in another namespace",
            stack: () => withChange<IPodDisruptionBudget>("pdb", (p) => void (p.metadata!.namespace = "other")),
            says: /No PodDisruptionBudget/,
        },
        {
            why: "maxUnavailable 2",
            stack: () => withChange<IPodDisruptionBudget>("pdb", (p) => void (p.spec!.maxUnavailable = 2)),
            says: /allows 2 pods down/,
        },
        {
            why: "minAvailable 50% of 6",
            stack: () =>
                withChange<IPodDisruptionBudget>("pdb", (p) => void (p.spec = { minAvailable: "50%", selector: p.spec!.selector })),
            says: /allows 3 pods down/,
        },
    ],
    "redis-network-policy": [
        { why: "no NetworkPolicy", stack: () => without("networkPolicy"), says: /No ingress NetworkPolicy/ },
        {
            why: "egress-only policy",
            stack: () => withChange<INetworkPolicy>("networkPolicy", (n) => void (n.spec!.policyTypes = ["Egress"])),
            says: /No ingress NetworkPolicy/,
        },
        {
            why: "bus port not admitted",
            stack: () => withChange<INetworkPolicy>("networkPolicy", (n) => void (n.spec!.ingress![0].ports = [{ port: "client" }])),
            says: /nothing on port 16379/,
        },
        {
            why: "rule without peers",
            stack: () => withChange<INetworkPolicy>("networkPolicy", (n) => void delete n.spec!.ingress![0].from),
            says: /admits anyone on port 16379/,
        },
        {
            why: "0.0.0.0/0 on the client port",
            stack: () =>
                withChange<INetworkPolicy>("networkPolicy", (n) => void (n.spec!.ingress![1].from = [{ ipBlock: { cidr: "0.0.0.0/0" } }])),
            says: /admits anyone on port 6379/,
        },
    ],
    "redis-no-external-service": [
        {
            why: "NodePort on Redis",
            stack: () => withChange<IService>("headless", (s) => void (s.spec = { ...s.spec, clusterIP: undefined, type: "NodePort" })),
            says: /\(NodePort\) exposes/,
        },
        {
            why: "LoadBalancer on Redis",
            stack: () => withChange<IService>("appService", (s) => void (s.spec!.selector = { app: "redis" })),
            says: /\(LoadBalancer\) exposes/,
        },
    ],
    "redis-formation-matches-statefulset": [
        {
            why: "8 pods for 6 nodes",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void (s.spec!.replicas = 8)),
            says: /= 6 nodes but .* runs 8 pods/,
        },
        {
            why: "unknown StatefulSet",
            stack: () => withChange<Record<string, unknown>>("formation", (f) => void (f.statefulSetName = "redis-old")),
            says: /'redis-old'/,
        },
    ],
    "redis-formation-placement": [
        {
            why: "replica shares a node with its master",
            stack: () =>
                withChange<Record<string, unknown>>("formation", (f) => {
                    f.placementOk = false;
                    f.placementWarnings = ["redis-3 replicates redis-0 on node n1"];
                }),
            says: /redis-3 replicates redis-0 on node n1/,
        },
        {
            why: "placement not reported",
            stack: () => withChange<Record<string, unknown>>("formation", (f) => void delete f.placementOk),
            says: /does not report placementOk/,
        },
    ],
    "gke-regional": [
        {
            why: "zonal cluster",
            stack: () => withChange<GkeClusterProps>("cluster", (c) => void ((c as { location: string }).location = "europe-west4-a")),
            says: /'europe-west4-a' is not a region/,
        },
        {
            why: "no location",
            stack: () => withChange<GkeClusterProps>("cluster", (c) => void delete (c as { location?: string }).location),
            says: /provider default/,
        },
        {
            why: "one node zone",
            stack: () =>
                withChange<GkeNodePoolProps>(
                    "nodePool",
                    (p) => void ((p as { nodeLocations: string[] }).nodeLocations = ["europe-west4-b"]),
                ),
            says: /fewer than 2 zones/,
        },
    ],
    "gke-node-auto-repair-upgrade": [
        {
            why: "auto-repair off",
            stack: () =>
                withChange<GkeNodePoolProps>(
                    "nodePool",
                    (p) => void ((p as { management: object }).management = { autoRepair: false, autoUpgrade: true }),
                ),
            says: /autoRepair/,
        },
        {
            why: "management left to defaults",
            stack: () => withChange<GkeNodePoolProps>("nodePool", (p) => void delete (p as { management?: object }).management),
            says: /autoUpgrade/,
        },
    ],
    "gke-workload-identity": [
        {
            why: "no workload pool",
            stack: () =>
                withChange<GkeClusterProps>(
                    "cluster",
                    (c) => void delete (c as { workloadIdentityConfig?: object }).workloadIdentityConfig,
                ),
            says: /workloadPool/,
        },
        {
            why: "node pool exposes node metadata",
            stack: () =>
                withChange<GkeNodePoolProps>(
                    "nodePool",
                    (p) => void ((p.nodeConfig as { workloadMetadataConfig: object }).workloadMetadataConfig = { mode: "GCE_METADATA" }),
                ),
            says: /GCE_METADATA/,
        },
    ],
    "gke-no-legacy-abac": [
        {
            why: "ABAC on",
            stack: () => withChange<GkeClusterProps>("cluster", (c) => void ((c as { enableLegacyAbac: boolean }).enableLegacyAbac = true)),
            says: /legacy ABAC/,
        },
    ],
    "gke-release-channel": [
        {
            why: "no channel",
            stack: () => withChange<GkeClusterProps>("cluster", (c) => void delete (c as { releaseChannel?: object }).releaseChannel),
            says: /unset/,
        },
        {
            why: "UNSPECIFIED",
            stack: () =>
                withChange<GkeClusterProps>(
                    "cluster",
                    (c) => void ((c as { releaseChannel: object }).releaseChannel = { channel: "UNSPECIFIED" }),
                ),
            says: /is UNSPECIFIED/,
        },
        {
            why: "channel not allowed by config",
            stack: goodStack,
            config: { "gke-release-channel": { allowedChannels: ["STABLE"] } },
            says: /REGULAR; use one of STABLE/,
        },
    ],
    "gke-node-service-account": [
        {
            why: "Compute Engine default account",
            stack: () =>
                withChange<GkeNodePoolProps>(
                    "nodePool",
                    (p) =>
                        void ((p.nodeConfig as { serviceAccount: string }).serviceAccount =
                            "123456789-compute@developer.gserviceaccount.com"),
                ),
            says: /123456789-compute@/,
        },
        {
            why: "no account",
            stack: () => withChange<GkeNodePoolProps>("nodePool", (p) => void delete (p as { nodeConfig?: object }).nodeConfig),
            says: /Compute Engine default/,
        },
        {
            why: "default pool kept",
            stack: () =>
                withChange<GkeClusterProps>(
                    "cluster",
                    (c) => void ((c as { removeDefaultNodePool: boolean }).removeDefaultNodePool = false),
                ),
            says: /default node pool/,
        },
    ],
};

describe("policy pack: policies", () => {
    it("has at least 12 uniquely named policies, each with a description and a deliberate enforcement level", () => {
        assert.ok(policies.length >= 12, `${policies.length} policies`);
        assert.equal(new Set(policies.map((p) => p.name)).size, policies.length);
        for (const p of policies) {
            assert.match(p.name, /^[a-z0-9-]+$/, p.name);
            assert.ok(p.description.length > 20, p.name);
            assert.ok(p.enforcementLevel === "mandatory" || p.enforcementLevel === "advisory", `${p.name}: ${p.enforcementLevel}`);
            // The engine refuses a schema that declares enforcementLevel itself.
            assert.ok(!p.configSchema?.properties.enforcementLevel, p.name);
            for (const [key, prop] of Object.entries(p.configSchema?.properties ?? {})) {
                assert.ok(typeof prop === "object" && prop.default !== undefined, `${p.name}.${key} needs a default`);
            }
        }
        assert.deepEqual([...resourcePolicies, ...stackPolicies].map((p) => p.name).sort(), policies.map((p) => p.name).sort());
    });

    it("every policy has bad cases in this file", () => {
        assert.deepEqual(Object.keys(cases).sort(), policies.map((p) => p.name).sort());
    });

    it("the good stack passes every policy, mandatory and advisory", async () => {
        const out = await runPack(Object.values(goodStack()));
        assert.deepEqual(out.violations, []);
    });

    for (const [policyName, badCases] of Object.entries(cases)) {
        describe(policyName, () => {
            for (const c of badCases) {
                it(`flags: ${c.why}`, async () => {
                    const found = await violationsOf(policyName, c.stack(), c.config);
                    assert.ok(found.length > 0, `${policyName} passed a bad stack (${c.why})`);
                    assert.ok(
                        found.some((v) => c.says.test(v.message)),
                        `messages: ${found.map((v) => v.message).join(" | ")}`,
                    );
                    // No unknowns here, so the policy reports at its own level.
                    const level = policies.find((p) => p.name === policyName)!.enforcementLevel;
                    assert.ok(found.every((v) => v.level === level));
                });
            }
        });
    }

    describe("enforcement and config as a policy group sets them", () => {
        it("a disabled policy reports nothing", async () => {
            const found = await violationsOf(
                "redis-spread",
                withChange<IStatefulSet>("statefulSet", (s) => void delete s.spec!.template.spec!.topologySpreadConstraints),
                {
                    "redis-spread": { enforcementLevel: "disabled" },
                },
            );
            assert.deepEqual(found, []);
        });

        it("config widens a threshold: node timeout 15000 passes with maxMs 20000", async () => {
            const stack = withChange<IConfigMap>("configMap", setConf(/cluster-node-timeout \d+/, "cluster-node-timeout 15000"));
            assert.deepEqual(await violationsOf("redis-node-timeout", stack, { "redis-node-timeout": { maxMs: 20000 } }), []);
        });

        it("pod anti-affinity on the hostname counts as spread", async () => {
            const stack = withChange<IStatefulSet>("statefulSet", (s) => {
                const pod = s.spec!.template.spec!;
                delete pod.topologySpreadConstraints;
                pod.affinity = {
                    podAntiAffinity: {
                        preferredDuringSchedulingIgnoredDuringExecution: [
                            {
                                weight: 100,
                                podAffinityTerm: {
                                    topologyKey: "kubernetes.io/hostname",
                                    labelSelector: { matchLabels: { app: "redis" } },
                                },
                            },
                        ],
                    },
                };
            });
            assert.deepEqual(await violationsOf("redis-spread", stack), []);
        });

        it("protected-mode no is tolerated when a password is set", async () => {
            const stack = withChange<IConfigMap>("configMap", setConf(/protected-mode yes/, "protected-mode no"));
            assert.deepEqual(await violationsOf("redis-protected-mode", stack), []);
        });

        it("a ConfigMap without a cluster redis.conf and a non-Redis StatefulSet are not applicable", async () => {
            const other = subject(TYPES.configMap, "app-env", {
                apiVersion: "v1",
                kind: "ConfigMap",
                data: { "app.env": "protected-mode no" },
            });
            const sts = subject(TYPES.statefulSet, "pg", {
                apiVersion: "apps/v1",
                kind: "StatefulSet",
                spec: { template: { spec: { containers: [{ name: "pg", image: "postgres" }] } } },
            });
            const out = emptyOutcome();
            for (const p of resourcePolicies) for (const r of [other, sts]) await runResourcePolicy(p, r, {}, out);
            assert.deepEqual(out.violations, []);
            assert.ok(out.notApplicable.some((n) => n.policy === "redis-probes" && n.subject === urnOf(sts)));
        });
    });

    describe("values unknown during preview", () => {
        it("placementOk unknown at preview is reported as advisory, not mandatory", async () => {
            const stack = withChange<Record<string, unknown>>("formation", (f) => void (f.placementOk = unknownValue));
            const found = await violationsOf("redis-formation-placement", stack);
            assert.equal(found.length, 1);
            assert.equal(found[0].level, "advisory");
            assert.match(found[0].message, /can't run during preview: .*placementOk/);
        });

        it("a node service account not yet created is advisory", async () => {
            const stack = withChange<GkeNodePoolProps>(
                "nodePool",
                (p) => void ((p.nodeConfig as { serviceAccount: string }).serviceAccount = unknownValue),
            );
            const found = await violationsOf("gke-node-service-account", stack);
            assert.deepEqual(
                found.map((v) => v.level),
                ["advisory"],
            );
        });
    });
});
