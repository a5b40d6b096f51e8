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
    "redis-default-user-off": [
        {
            why: "one shared password (requirepass: the default user, every command)",
            stack: () =>
                withChange<IConfigMap>("configMap", (cm) => {
                    delete cm.data!["users.acl"];
                    cm.data!["node-start.sh"] =
                        'echo "requirepass $REDIS_PASSWORD" > /run/redis/redis.conf\necho "masterauth $REDIS_PASSWORD" >> /run/redis/redis.conf\nexec "$@"';
                }),
            says: /^Nothing turns the `default` user off .*FLUSHALL and CONFIG included\.$/,
        },
        {
            why: "an ACL file that leaves default on without a password",
            stack: () => withChange<IConfigMap>("configMap", (cm) => void (cm.data!["users.acl"] = "user default on nopass ~* &* +@all\n")),
            says: /^The `default` user is left `on` \(`user default on nopass ~\* &\* \+@all`\)/,
        },
        {
            why: "off, then on again later in the same line (the last one wins)",
            stack: () =>
                withChange<IConfigMap>("configMap", (cm) => void (cm.data!["users.acl"] = "user default off resetpass on >x -@all\n")),
            says: /left `on`/,
        },
        {
            why: "an ACL template that no start script or redis.conf loads",
            stack: () =>
                withChange<IConfigMap>(
                    "configMap",
                    (cm) => void (cm.data!["node-start.sh"] = cm.data!["node-start.sh"].replace(/echo "aclfile [^;]*; /, "")),
                ),
            says: /^Nothing turns the `default` user off/,
        },
    ],
    "redis-tls": [
        {
            why: "the tutorial's plain port, no TLS at all",
            stack: () =>
                withChange<IConfigMap>(
                    "configMap",
                    setConf(/port 0\ntls-port 6379\ntls-cluster yes\ntls-replication yes\n/, "port 6379\n"),
                ),
            says: /the plain port is open \(`port 6379`\).*no `tls-port`.*no `tls-cluster yes`.*no `tls-replication yes`/,
        },
        {
            why: "TLS for clients while the plain port stays open (Redis' default when `port` is absent)",
            stack: () => withChange<IConfigMap>("configMap", setConf(/port 0\n/, "")),
            says: /^Redis is not encrypted end to end: the plain port is open \(`port 6379`\)[^;]*\.$/,
        },
        {
            why: "the cluster bus in plain text",
            stack: () => withChange<IConfigMap>("configMap", setConf(/tls-cluster yes/, "tls-cluster no")),
            says: /^Redis is not encrypted end to end: no `tls-cluster yes`: the cluster bus runs in plain text[^;]*\.$/,
        },
        {
            why: "replication in plain text",
            stack: () => withChange<IConfigMap>("configMap", setConf(/tls-replication yes\n/, "")),
            says: /^Redis is not encrypted end to end: no `tls-replication yes`[^;]*\.$/,
        },
        {
            why: "no certificate anywhere",
            stack: () =>
                withChange<IConfigMap>(
                    "configMap",
                    (cm) => void (cm.data!["node-start.sh"] = cm.data!["node-start.sh"].replace(/\n.*tls-cert-file.*\n/, "\n")),
                ),
            says: /nothing sets `tls-cert-file`, `tls-key-file`, `tls-ca-cert-file`/,
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
            says: /admit anyone on port 16379/,
        },
        {
            why: "0.0.0.0/0 on the client port",
            stack: () =>
                withChange<INetworkPolicy>("networkPolicy", (n) => void (n.spec!.ingress![1].from = [{ ipBlock: { cidr: "0.0.0.0/0" } }])),
            says: /admit anyone on port 6379/,
        },
        {
            why: "namespaceSelector: {} (every pod of every namespace)",
            stack: () => withChange<INetworkPolicy>("networkPolicy", (n) => void (n.spec!.ingress![1].from = [{ namespaceSelector: {} }])),
            says: /admit anyone on port 6379/,
        },
        {
            why: "namespaceSelector: {} with pod labels (a label anyone who can create a pod can set)",
            stack: () =>
                withChange<INetworkPolicy>(
                    "networkPolicy",
                    (n) =>
                        void (n.spec!.ingress![1].from = [{ namespaceSelector: {}, podSelector: { matchLabels: { app: "hit-counter" } } }]),
                ),
            says: /admit anyone on port 6379/,
        },
        {
            why: "podSelector: {} (every pod of the namespace) on the bus",
            stack: () => withChange<INetworkPolicy>("networkPolicy", (n) => void (n.spec!.ingress![0].from = [{ podSelector: {} }])),
            says: /admit anyone on port 16379/,
        },
        {
            why: "every namespace but one (NotIn)",
            stack: () =>
                withChange<INetworkPolicy>(
                    "networkPolicy",
                    (n) =>
                        void (n.spec!.ingress![1].from = [
                            {
                                namespaceSelector: {
                                    matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "NotIn", values: ["kube-system"] }],
                                },
                            },
                        ]),
                ),
            says: /admit anyone on port 6379/,
        },
        {
            why: "0.0.0.0/1 + 128.0.0.0/1 in two rules",
            stack: () =>
                withChange<INetworkPolicy>("networkPolicy", (n) => {
                    n.spec!.ingress!.push(
                        { from: [{ ipBlock: { cidr: "0.0.0.0/1" } }], ports: [{ port: 6379 }] },
                        { from: [{ ipBlock: { cidr: "128.0.0.0/1" } }], ports: [{ port: 6379 }] },
                    );
                }),
            says: /admit anyone on port 6379/,
        },
        {
            why: "0.0.0.0/0 except the pod network",
            stack: () =>
                withChange<INetworkPolicy>(
                    "networkPolicy",
                    (n) => void (n.spec!.ingress![1].from = [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8"] } }]),
                ),
            says: /admit anyone on port 6379/,
        },
        {
            why: "::/0",
            stack: () =>
                withChange<INetworkPolicy>("networkPolicy", (n) => void (n.spec!.ingress![1].from = [{ ipBlock: { cidr: "::/0" } }])),
            says: /admit anyone on port 6379/,
        },
        {
            why: "a second policy over every pod of the namespace opens every port",
            stack: () => {
                const stack = goodStack();
                stack.allOpen = subject(TYPES.networkPolicy, "allow-all", {
                    apiVersion: "networking.k8s.io/v1",
                    kind: "NetworkPolicy",
                    metadata: { name: "allow-all", namespace: "redis" },
                    spec: { podSelector: {}, ingress: [{}] },
                });
                return stack;
            },
            says: /admit anyone on port 6379/,
        },
    ],
    "redis-metrics-exposure": [
        {
            why: "9121 from pods labelled like Prometheus in any namespace (the form shipped before)",
            stack: () =>
                withChange<INetworkPolicy>(
                    "networkPolicy",
                    (n) =>
                        void (n.spec!.ingress![2].from = [
                            { namespaceSelector: {}, podSelector: { matchLabels: { "app.kubernetes.io/name": "prometheus" } } },
                        ]),
                ),
            says: /admit anyone on metrics port 9121/,
        },
        {
            why: "9121 by number from everyone",
            stack: () => withChange<INetworkPolicy>("networkPolicy", (n) => void (n.spec!.ingress![2] = { ports: [{ port: 9121 }] })),
            says: /admit anyone on metrics port 9121/,
        },
        {
            why: "the exporter keeps its /scrape endpoint",
            stack: () =>
                withChange<IStatefulSet>(
                    "statefulSet",
                    (s) => void (s.spec!.template.spec!.containers[1].args = ["--disable-exporting-key-values"]),
                ),
            says: /'exporter' .* without --disable-scrape-endpoint: \/scrape\?target= connects anywhere/,
        },
        {
            why: "the exporter exports key values (env false)",
            stack: () =>
                withChange<IStatefulSet>("statefulSet", (s) => {
                    const c = s.spec!.template.spec!.containers[1];
                    c.args = ["--disable-scrape-endpoint"];
                    c.env = [...(c.env ?? []), { name: "REDIS_EXPORTER_DISABLE_EXPORTING_KEY_VALUES", value: "false" }];
                }),
            says: /without --disable-exporting-key-values: key values become metric labels/,
        },
    ],
    "image-digest": [
        {
            why: "Redis by tag only",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void (redisContainer(s).image = "redis:7.2.16-bookworm")),
            says: /'redis:7.2.16-bookworm' without a digest/,
        },
        {
            why: "the app by tag only",
            stack: () => withChange<IDeployment>("app", (d) => void (redisContainer(d).image = "node:22.11.0-alpine")),
            says: /'app' uses image 'node:22.11.0-alpine' without a digest/,
        },
        {
            why: "an init container by tag only",
            stack: () =>
                withChange<IStatefulSet>(
                    "statefulSet",
                    (s) => void (s.spec!.template.spec!.initContainers = [{ name: "init", image: "busybox:1.37" }]),
                ),
            says: /'init' uses image 'busybox:1.37'/,
        },
        {
            why: "a CronJob by tag only",
            stack: () => {
                const stack = goodStack();
                stack.cron = subject(TYPES.cronJob, "backup", {
                    apiVersion: "batch/v1",
                    kind: "CronJob",
                    spec: {
                        schedule: "@daily",
                        jobTemplate: {
                            spec: {
                                template: {
                                    spec: { automountServiceAccountToken: false, containers: [{ name: "backup", image: "redis:7.2.16" }] },
                                },
                            },
                        },
                    },
                });
                return stack;
            },
            says: /'backup' uses image 'redis:7.2.16' without a digest/,
        },
    ],
    "pod-service-account-token": [
        {
            why: "Redis pods leave it unset",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void delete s.spec!.template.spec!.automountServiceAccountToken),
            says: /automountServiceAccountToken unset/,
        },
        {
            why: "the app leaves it unset",
            stack: () => withChange<IDeployment>("app", (d) => void delete d.spec!.template.spec!.automountServiceAccountToken),
            says: /automountServiceAccountToken unset/,
        },
    ],
    "app-network-policy": [
        {
            why: "no app NetworkPolicy",
            stack: () => without("appNetworkPolicy"),
            says: /No ingress NetworkPolicy selects the pods of .*hit-counter/,
        },
        {
            why: "ingress only: egress anywhere",
            stack: () =>
                withChange<INetworkPolicy>("appNetworkPolicy", (n) => {
                    n.spec!.policyTypes = ["Ingress"];
                    delete n.spec!.egress;
                }),
            says: /No egress NetworkPolicy .* can reach anything/,
        },
        {
            why: "an ingress rule admitting anyone on every port",
            stack: () => withChange<INetworkPolicy>("appNetworkPolicy", (n) => void (n.spec!.ingress = [{}])),
            says: /admits anyone on every port/,
        },
        {
            why: "an egress rule to anywhere on every port",
            stack: () =>
                withChange<INetworkPolicy>(
                    "appNetworkPolicy",
                    (n) => void n.spec!.egress!.push({ to: [{ ipBlock: { cidr: "0.0.0.0/0" } }] }),
                ),
            says: /reach anything on every port/,
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
            says: /\(LoadBalancer\) exposes Redis outside the cluster \(selector app=redis\)/,
        },
        {
            why: "LoadBalancer on port 6379, whatever it selects",
            stack: () => withChange<IService>("appService", (s) => void (s.spec!.ports = [{ port: 6379, targetPort: 6379 }])),
            says: /\(port 6379\)/,
        },
    ],
    "redis-no-external-service-selector": [
        {
            why: "LoadBalancer with a custom selector that matches the Redis pods' labels",
            stack: () => {
                const stack = withChange<IStatefulSet>("statefulSet", (s) => {
                    const meta = s.spec!.template.metadata!;
                    meta.labels = { ...meta.labels, tier: "cache" };
                });
                const app = stack.appService;
                stack.appService = {
                    ...app,
                    props: variant(app.props, (p) => void ((p as unknown as IService).spec!.selector = { tier: "cache" })),
                };
                return stack;
            },
            says: /\(LoadBalancer\) exposes the pods of/,
        },
    ],
    "redis-formation-matches-statefulset": [
        {
            why: "8 pods for 6 nodes",
            stack: () => withChange<IStatefulSet>("statefulSet", (s) => void (s.spec!.replicas = 8)),
            says: /= 6 nodes but .* runs 8 pods\.$/,
        },
        {
            why: "the formation counts on a surge pod the StatefulSet does not run (6 pods)",
            stack: () => {
                const stack = withChange<IStatefulSet>("statefulSet", (s) => void (s.spec!.replicas = 6));
                const f = stack.formation;
                stack.formation = { ...f, props: variant(f.props, (p) => void (p.surgeReplica = true)) };
                return stack;
            },
            says: /= 6 nodes and the surge pod \(7 pods\) but .* runs 6 pods\.$/,
        },
        {
            why: "a surge pod with two replicas per master (10 pods for 9 nodes)",
            stack: () => {
                const stack = withChange<IStatefulSet>("statefulSet", (s) => void (s.spec!.replicas = 10));
                const f = stack.formation;
                stack.formation = { ...f, props: variant(f.props, (p) => void (p.replicasPerMaster = 2)) };
                return stack;
            },
            says: /= 9 nodes but .* runs 10 pods\.$/,
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
    "gke-node-upgrade-surge": [
        {
            why: "upgrades take a node down without a replacement",
            stack: () =>
                withChange<GkeNodePoolProps>(
                    "nodePool",
                    (p) =>
                        void ((p as { upgradeSettings: object }).upgradeSettings = { strategy: "SURGE", maxSurge: 1, maxUnavailable: 1 }),
                ),
            says: /take 1 node\(s\) down without a replacement/,
        },
        {
            why: "no surge node at all",
            stack: () =>
                withChange<GkeNodePoolProps>(
                    "nodePool",
                    (p) => void ((p as { upgradeSettings: object }).upgradeSettings = { maxSurge: 0, maxUnavailable: 2 }),
                ),
            says: /add no node first/,
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
    "gke-control-plane-access": [
        {
            why: "no authorized networks at all",
            stack: () =>
                withChange<GkeClusterProps>(
                    "cluster",
                    (c) => void delete (c as { masterAuthorizedNetworksConfig?: object }).masterAuthorizedNetworksConfig,
                ),
            says: /admits every address: no masterAuthorizedNetworksConfig/,
        },
        {
            why: "0.0.0.0/0 authorized",
            stack: () =>
                withChange<GkeClusterProps>(
                    "cluster",
                    (c) =>
                        void ((c as { masterAuthorizedNetworksConfig: object }).masterAuthorizedNetworksConfig = {
                            cidrBlocks: [{ cidrBlock: "0.0.0.0/0" }],
                        }),
                ),
            says: /0\.0\.0\.0\/0 is most of the internet/,
        },
        {
            why: "every Google Cloud address",
            stack: () =>
                withChange<GkeClusterProps>(
                    "cluster",
                    (c) =>
                        void ((c as { masterAuthorizedNetworksConfig: object }).masterAuthorizedNetworksConfig = {
                            cidrBlocks: [],
                            gcpPublicCidrsAccessEnabled: true,
                        }),
                ),
            says: /gcpPublicCidrsAccessEnabled admits every Google Cloud address/,
        },
    ],
    "gke-node-service-account": [
        {
            why: "the cluster's first pool (removed after creation) on the default account",
            stack: () => withChange<GkeClusterProps>("cluster", (c) => void delete (c as { nodeConfig?: object }).nodeConfig),
            says: /first \(removed\) node pool runs as the Compute Engine default/,
        },
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
            why: "default pool kept, on the default account",
            stack: () =>
                withChange<GkeClusterProps>("cluster", (c) => {
                    (c as { removeDefaultNodePool: boolean }).removeDefaultNodePool = false;
                    (c.nodeConfig as { serviceAccount: string }).serviceAccount = "default";
                }),
            says: /cluster's default node pool runs as the Compute Engine default/,
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

        it("the surge pod: a 3x1 StatefulSet of 7 pods matches its formation, and passes every policy", async () => {
            const stack = withChange<IStatefulSet>("statefulSet", (s) => void (s.spec!.replicas = 7));
            const f = stack.formation;
            stack.formation = { ...f, props: variant(f.props, (p) => void (p.surgeReplica = true)) };
            assert.deepEqual(await violationsOf("redis-formation-matches-statefulset", stack), []);
            assert.deepEqual((await runPack(Object.values(stack))).violations, []);
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

        it("a helper on the Redis image (the failover agent: a script, no ports) is not a Redis server; the image's own entrypoint is", async () => {
            const helper = {
                name: "failover-agent",
                image: redisContainer(goodStack().statefulSet.props as unknown as IStatefulSet).image,
            };
            const withHelper = (extra: object) =>
                withChange<IStatefulSet>("statefulSet", (s) => void s.spec!.template.spec!.containers.push({ ...helper, ...extra }));
            const agent = withHelper({ command: ["sh", "/scripts/failover-agent.sh"] });
            for (const policy of ["redis-probes", "redis-persistence", "redis-password-from-secret"])
                assert.deepEqual(await violationsOf(policy, agent), [], policy);
            const server = withHelper({});
            assert.ok((await violationsOf("redis-probes", server)).some((v) => /'failover-agent' has no readinessProbe/.test(v.message)));
        });

        it("node-pool upgrades left to GKE's defaults (surge 1, none unavailable) or blue-green pass", async () => {
            const defaults = withChange<GkeNodePoolProps>(
                "nodePool",
                (p) => void delete (p as { upgradeSettings?: object }).upgradeSettings,
            );
            assert.deepEqual(await violationsOf("gke-node-upgrade-surge", defaults), []);
            const blueGreen = withChange<GkeNodePoolProps>(
                "nodePool",
                (p) => void ((p as { upgradeSettings: object }).upgradeSettings = { strategy: "BLUE_GREEN", maxUnavailable: 3 }),
            );
            assert.deepEqual(await violationsOf("gke-node-upgrade-surge", blueGreen), []);
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
                spec: {
                    template: {
                        spec: {
                            automountServiceAccountToken: false,
                            containers: [{ name: "pg", image: `postgres:17@sha256:${"d".repeat(64)}` }],
                        },
                    },
                },
            });
            const out = emptyOutcome();
            for (const p of resourcePolicies) for (const r of [other, sts]) await runResourcePolicy(p, r, {}, out);
            assert.deepEqual(out.violations, []);
            assert.ok(out.notApplicable.some((n) => n.policy === "redis-probes" && n.subject === urnOf(sts)));
        });
    });

    describe("closed forms pass (each open-form check can also say no)", () => {
        it("peers pinned by namespace name, by namespace label, or a small address block admit no one else", async () => {
            const stack = withChange<INetworkPolicy>("networkPolicy", (n) => {
                n.spec!.ingress![1].from = [
                    { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } }, podSelector: {} },
                    { namespaceSelector: { matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["web"] }] } },
                    { namespaceSelector: { matchLabels: { team: "payments" } } },
                    { ipBlock: { cidr: "203.0.113.0/24" } },
                    { ipBlock: { cidr: "2001:db8::/64" } },
                ];
            });
            assert.deepEqual(await violationsOf("redis-network-policy", stack), []);
        });

        it("the exporter's switches may come as env, and a metrics rule for a pinned namespace passes", async () => {
            const stack = withChange<IStatefulSet>("statefulSet", (s) => {
                const c = s.spec!.template.spec!.containers[1];
                c.args = [];
                c.env = [
                    ...(c.env ?? []),
                    { name: "REDIS_EXPORTER_DISABLE_SCRAPE_ENDPOINT", value: "true" },
                    { name: "REDIS_EXPORTER_DISABLE_EXPORTING_KEY_VALUES", value: "true" },
                ];
            });
            assert.deepEqual(await violationsOf("redis-metrics-exposure", stack), []);
        });

        it("a control plane whose IP endpoint is private or switched off needs no authorized networks", async () => {
            for (const change of [
                { privateClusterConfig: { enablePrivateEndpoint: true } },
                { controlPlaneEndpointsConfig: { ipEndpointsConfig: { enabled: false } } },
            ]) {
                const stack = withChange<GkeClusterProps>("cluster", (c) => {
                    delete (c as { masterAuthorizedNetworksConfig?: object }).masterAuthorizedNetworksConfig;
                    Object.assign(c, change);
                });
                assert.deepEqual(await violationsOf("gke-control-plane-access", stack), [], JSON.stringify(change));
            }
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
