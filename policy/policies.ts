/**
 * The CrossGuard policies of the redis-cluster-gke pack, with their config schemas.
 * Pure: no PolicyPack is constructed here (that starts a gRPC server; see index.ts),
 * so tests call every validation directly.
 *
 * Enforcement levels:
 *  - mandatory: anything that exposes data, loses it, or makes one failure take a shard
 *    down (auth, persistence, replicas, spread, disruption budget, network isolation,
 *    GKE node hygiene). Resource policies that depend on values unknown at preview are
 *    reported by the engine as advisory until they are known.
 *  - advisory: trade-offs an operator may choose differently (cluster-node-timeout).
 */
import type {
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";
import {
    FormationProps,
    GkeClusterProps,
    GkeNodePoolProps,
    IConfigMap,
    IContainer,
    IDeployment,
    INetworkPolicy,
    IPodDisruptionBudget,
    INetworkPolicyPeer,
    INetworkPolicyPort,
    IService,
    IStatefulSet,
    Labels,
    REDIS_BUS_PORT,
    REDIS_CLIENT_PORT,
    REDIS_METRICS_PORT,
    TYPES,
    WORKLOAD_TYPES,
    allContainers,
    asRedisStatefulSet,
    hasDigest,
    imageMajorVersion,
    isDefaultComputeServiceAccount,
    isDynamicResource,
    isFormation,
    isGcpRegion,
    isPinnedImage,
    namedPorts,
    parseImage,
    parseRedisConf,
    pdbAllowedDisruptions,
    podLabels,
    podTemplateOf,
    portsAllow,
    redisConfigOf,
    redisContainers,
    rulesAreOpen,
    sameNamespace,
    scriptSetsDirective,
    selectorMatches,
    serviceSelects,
} from "./shapes";

// ---------------------------------------------------------------- helpers

type Validate<T> = (props: T, args: ResourceValidationArgs, report: ReportViolation) => void;
type Branch = Validate<unknown>;

/**
 * One validation for several resource types: the matching branch runs, any other type is
 * "not applicable" (once, not once per branch as an array of validations would report).
 */
function forTypes(branches: Readonly<Record<string, Branch>>): ResourceValidation {
    return (args, report) => {
        const branch = branches[isDynamicResource(args.type) ? TYPES.dynamicResource : args.type];
        if (!branch) return args.notApplicable(`applies to ${Object.keys(branches).join(", ")}`);
        return branch(args.props, args, report);
    };
}

/** Props arrive as plain JSON; the branch's type says what shape the policy expects. */
function on<T>(validate: Validate<T>): Branch {
    return validate as unknown as Branch;
}

function forType<T>(type: string, validate: Validate<T>): ResourceValidation {
    return forTypes({ [type]: on(validate) });
}

/** Policy config with the schema's defaults filled in, whether or not the engine already applied them. */
function configOf<T extends object>(args: { getConfig<C extends object>(): C }, defaults: T): T {
    return { ...defaults, ...args.getConfig<Partial<T>>() };
}

/** JSON-schema defaults, read back from the schema so the number lives in one place. */
function defaultsOf<T extends object>(schema: PolicyConfigSchema): T {
    return Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, v.default])) as T;
}

function displayName(r: { name: string; props: Record<string, unknown> }): string {
    const meta = r.props.metadata as { name?: string; namespace?: string } | undefined;
    return meta?.name ? `${meta.namespace ? meta.namespace + "/" : ""}${meta.name}` : r.name;
}

interface RedisWorkload {
    readonly resource: PolicyResource;
    readonly label: string;
    readonly name?: string;
    readonly namespace?: string;
    readonly podLabels: Labels;
    readonly containers: IContainer[];
    readonly replicas: number;
}

/** Every Redis StatefulSet in the stack, with what stack policies need to match pods. */
function redisWorkloads(args: StackValidationArgs): RedisWorkload[] {
    const found: RedisWorkload[] = [];
    for (const r of args.resources) {
        if (r.type !== TYPES.statefulSet) continue;
        const sts = r.props as IStatefulSet;
        const redis = asRedisStatefulSet(sts);
        if (!redis) continue;
        found.push({
            resource: r,
            label: displayName(r),
            name: sts.metadata?.name,
            namespace: sts.metadata?.namespace,
            podLabels: redis.podLabels,
            containers: redis.containers,
            replicas: sts.spec?.replicas ?? 1,
        });
    }
    return found;
}

function resourcesOfType<T>(args: StackValidationArgs, type: string): { resource: PolicyResource; props: T }[] {
    return args.resources.filter((r) => r.type === type).map((resource) => ({ resource, props: resource.props as T }));
}

function requireRedisWorkloads(args: StackValidationArgs): RedisWorkload[] {
    const workloads = redisWorkloads(args);
    if (workloads.length === 0) args.notApplicable("no Redis StatefulSet in this stack");
    return workloads;
}

// ---------------------------------------------------------------- Redis: auth

export const redisPasswordFromSecret: ResourceValidationPolicy = {
    name: "redis-password-from-secret",
    description: "Redis containers get their password from a Kubernetes Secret, so every node runs with requirepass.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Give the Redis container an env var with valueFrom.secretKeyRef (e.g. REDIS_PASSWORD) that the start script turns into requirepass/masterauth.",
    validateResource: forType<IStatefulSet>(TYPES.statefulSet, (sts, args, report) => {
        const redis = asRedisStatefulSet(sts) ?? args.notApplicable("not a Redis StatefulSet");
        const secretVolumes = new Set(
            (sts.spec?.template?.spec?.volumes ?? [])
                .filter((v) => v.secret || v.projected?.sources?.some((s) => s.secret))
                .map((v) => v.name),
        );
        for (const c of redis.containers) {
            const fromEnv = (c.env ?? []).some((e) => e.valueFrom?.secretKeyRef);
            const fromEnvFrom = (c.envFrom ?? []).some((e) => e.secretRef);
            const fromVolume = (c.volumeMounts ?? []).some((m) => secretVolumes.has(m.name));
            if (!fromEnv && !fromEnvFrom && !fromVolume) {
                report(
                    `Redis container '${c.name}' gets no password from a Secret: anyone who reaches port ${REDIS_CLIENT_PORT} owns the data.`,
                );
            }
        }
    }),
};

export const redisProtectedMode: ResourceValidationPolicy = {
    name: "redis-protected-mode",
    description: "redis.conf never turns protected mode off unless a password is configured.",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps: "Keep `protected-mode yes` and set requirepass or an ACL file (from a Secret, via the start script).",
    validateResource: forType<IConfigMap>(TYPES.configMap, (cm, args, report) => {
        const shipped = redisConfigOf(cm) ?? args.notApplicable("no cluster redis.conf in this ConfigMap");
        for (const conf of shipped.confs) {
            const passwordSet = ["requirepass", "aclfile"].some((d) => conf.has(d) || scriptSetsDirective(shipped.scripts, d));
            if (conf.get("protected-mode") === "no" && !passwordSet) {
                report(
                    "redis.conf has `protected-mode no` and no requirepass or ACL file: the node accepts any client without a password.",
                );
            }
        }
    }),
};

export const redisMasterauth: ResourceValidationPolicy = {
    name: "redis-masterauth",
    description:
        "Nodes authenticate to their master (masterauth) and require a password (requirepass or an ACL file), in redis.conf or written by the start script.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Have the node start script write `masterauth` and `requirepass` (or `aclfile`, with ACL users) from the Secret into the runtime config.",
    validateResource: forType<IConfigMap>(TYPES.configMap, (cm, args, report) => {
        const shipped = redisConfigOf(cm) ?? args.notApplicable("no cluster redis.conf in this ConfigMap");
        const sets = (directive: string) => shipped.confs.some((c) => c.has(directive)) || scriptSetsDirective(shipped.scripts, directive);
        if (!sets("requirepass") && !sets("aclfile")) {
            report(
                "Neither redis.conf nor a start script in this ConfigMap sets 'requirepass' or 'aclfile': nodes run without a password.",
            );
        }
        if (!sets("masterauth")) {
            report(
                "Neither redis.conf nor a start script in this ConfigMap sets 'masterauth': replicas of a password-protected master can never sync.",
            );
        }
    }),
};

/** The rules of every `user default …` line a ConfigMap ships (redis.conf `user` directives, ACL files). */
function defaultUserLines(cm: IConfigMap): string[][] {
    const lines = Object.values(cm.data ?? {}).flatMap((text) => text.split("\n"));
    return lines
        .map((l) => /^\s*user\s+default\s+(.*)$/.exec(l)?.[1])
        .filter((r): r is string => r !== undefined)
        .map((r) => r.trim().split(/\s+/));
}

/** Whether ACL rules leave a user on (the last of `on`/`off` wins; a user is created off) or password-free (`nopass`). */
function userOpen(rules: readonly string[]): string | undefined {
    const state = rules.filter((r) => r === "on" || r === "off").pop() ?? "off";
    if (state === "on") return "`on`";
    if (rules.includes("nopass")) return "`nopass`";
    return undefined;
}

export const redisDefaultUserOff: ResourceValidationPolicy = {
    name: "redis-default-user-off",
    description:
        "Redis's `default` user is off: every client authenticates as its own ACL user with only the commands and keys it needs (`user default off` in redis.conf or the ACL file the start script loads).",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Keep the stack's ACL users (components/redis/acl.ts): the ACL template says `user default off`, and each client has its own user and password. " +
        'Clients that only know a single password (`AUTH <password>`, the default user): set this policy advisory for the stack (`{"redis-default-user-off": {"enforcementLevel": "advisory"}}`), knowing each of them can then run FLUSHALL, CONFIG, DEBUG and read every key.',
    validateResource: forType<IConfigMap>(TYPES.configMap, (cm, args, report) => {
        const shipped = redisConfigOf(cm) ?? args.notApplicable("no cluster redis.conf in this ConfigMap");
        const lines = defaultUserLines(cm);
        const aclFileLoaded = shipped.confs.some((c) => c.has("aclfile")) || scriptSetsDirective(shipped.scripts, "aclfile");
        if (lines.length === 0 || (!aclFileLoaded && !shipped.confs.some((c) => c.has("user")))) {
            report(
                "Nothing turns the `default` user off (no `user default off` in redis.conf or a loaded ACL file): every client that knows the one password runs every command, FLUSHALL and CONFIG included.",
            );
            return;
        }
        for (const rules of lines) {
            const open = userOpen(rules);
            if (open)
                report(
                    `The \`default\` user is left ${open} (\`user default ${rules.join(" ")}\`): turn it \`off\` and give each client its own user.`,
                );
        }
    }),
};

const TLS_FILE_DIRECTIVES = ["tls-cert-file", "tls-key-file", "tls-ca-cert-file"] as const;

/** What a redis.conf (with the start scripts that complete it) leaves unencrypted, one sentence each. */
function plainTextLinks(conf: ReturnType<typeof parseRedisConf>, scripts: readonly string[]): string[] {
    const found: string[] = [];
    const tlsPort = Number(conf.get("tls-port") ?? 0);
    // Redis listens on 6379 in plain text unless told `port 0`.
    const plainPort = conf.get("port") ?? String(REDIS_CLIENT_PORT);
    if (plainPort !== "0")
        found.push(
            `the plain port is open (\`port ${plainPort}\`): clients and their passwords cross the network unencrypted (set \`port 0\`)`,
        );
    if (!(tlsPort > 0)) found.push("no `tls-port`: clients cannot connect over TLS");
    if (conf.get("tls-cluster") !== "yes")
        found.push("no `tls-cluster yes`: the cluster bus runs in plain text, and anyone who reaches it can join the cluster");
    if (conf.get("tls-replication") !== "yes")
        found.push("no `tls-replication yes`: replicas copy every key from their master in plain text");
    const files = TLS_FILE_DIRECTIVES.filter((d) => !conf.has(d) && !scriptSetsDirective(scripts, d));
    if (files.length > 0)
        found.push(`nothing sets ${files.map((d) => `\`${d}\``).join(", ")} (redis.conf or a start script): Redis has no certificate`);
    return found;
}

export const redisTls: ResourceValidationPolicy = {
    name: "redis-tls",
    description:
        "Redis speaks TLS on every link: clients (the plain port closed), replication and the cluster bus, with its certificate, key and CA configured.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Keep `redis:tls` true (the default): redis.conf gets `port 0`, `tls-port 6379`, `tls-cluster yes`, `tls-replication yes`, and the start script points Redis at the mounted TLS Secret. " +
        'Clients that cannot speak TLS: set this policy advisory for the stack (`{"redis-tls": {"enforcementLevel": "advisory"}}`), knowing passwords and data then cross the network in plain text.',
    validateResource: forType<IConfigMap>(TYPES.configMap, (cm, args, report) => {
        const shipped = redisConfigOf(cm) ?? args.notApplicable("no cluster redis.conf in this ConfigMap");
        for (const conf of shipped.confs) {
            const links = plainTextLinks(conf, shipped.scripts);
            if (links.length > 0) report(`Redis is not encrypted end to end: ${links.join("; ")}.`);
        }
    }),
};

// ---------------------------------------------------------------- Redis: durability and shape

export const redisPersistence: ResourceValidationPolicy = {
    name: "redis-persistence",
    description: "Redis data survives pod restarts: a PVC template mounted by the Redis container, and appendonly on.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: forTypes({
        [TYPES.statefulSet]: on<IStatefulSet>((sts, args, report) => {
            const redis = asRedisStatefulSet(sts) ?? args.notApplicable("not a Redis StatefulSet");
            const claims = new Set((sts.spec?.volumeClaimTemplates ?? []).map((t) => t.metadata?.name));
            for (const c of redis.containers) {
                if (!(c.volumeMounts ?? []).some((m) => claims.has(m.name))) {
                    report(`Redis container '${c.name}' mounts no volumeClaimTemplate: nodes.conf and the AOF die with the pod.`);
                }
            }
        }),
        [TYPES.configMap]: on<IConfigMap>((cm, args, report) => {
            const shipped = redisConfigOf(cm) ?? args.notApplicable("no cluster redis.conf in this ConfigMap");
            if (shipped.confs.some((c) => c.get("appendonly") !== "yes")) {
                report("redis.conf does not set `appendonly yes`: a restarted master comes back empty.");
            }
        }),
    }),
};

const clusterSizeSchema: PolicyConfigSchema = {
    properties: {
        minMasters: { type: "integer", minimum: 3, default: 3, description: "Fewest masters (Redis Cluster needs 3 for a majority)." },
        minReplicasPerMaster: { type: "integer", minimum: 0, default: 1, description: "Fewest replicas behind each master." },
    },
};
interface ClusterSizeConfig {
    minMasters: number;
    minReplicasPerMaster: number;
}

export const redisClusterSize: ResourceValidationPolicy = {
    name: "redis-cluster-size",
    description: "At least 3 masters with at least one replica each, in the StatefulSet and in the formation resource.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema: clusterSizeSchema,
    validateResource: forTypes({
        [TYPES.statefulSet]: on<IStatefulSet>((sts, args, report) => {
            if (!asRedisStatefulSet(sts)) args.notApplicable("not a Redis StatefulSet");
            const cfg = configOf(args, defaultsOf<ClusterSizeConfig>(clusterSizeSchema));
            const needed = cfg.minMasters * (1 + cfg.minReplicasPerMaster);
            const replicas = sts.spec?.replicas ?? 1;
            if (replicas < needed) {
                report(
                    `Redis StatefulSet has ${replicas} pods; ${cfg.minMasters} masters with ${cfg.minReplicasPerMaster} replica(s) each need ${needed}.`,
                );
            }
        }),
        [TYPES.dynamicResource]: on<FormationProps>((f, args, report) => {
            if (!isFormation(args.type, args.props)) args.notApplicable("not a Redis cluster formation");
            const cfg = configOf(args, defaultsOf<ClusterSizeConfig>(clusterSizeSchema));
            if ((f.masters ?? 0) < cfg.minMasters)
                report(`Formation asks for ${f.masters} masters; at least ${cfg.minMasters} are needed.`);
            if ((f.replicasPerMaster ?? 0) < cfg.minReplicasPerMaster) {
                report(
                    `Formation asks for ${f.replicasPerMaster} replicas per master; at least ${cfg.minReplicasPerMaster} are needed for failover.`,
                );
            }
        }),
    }),
};

export const redisImagePinned: ResourceValidationPolicy = {
    name: "redis-image-pinned",
    description:
        "Every container of the Redis StatefulSet and of Deployments (the app) uses a pinned image: a tag other than latest, or a digest.",
    enforcementLevel: "mandatory",
    severity: "medium",
    validateResource: forTypes({
        [TYPES.statefulSet]: on<IStatefulSet>((w, args, report) => {
            if (!asRedisStatefulSet(w)) args.notApplicable("not a Redis StatefulSet");
            reportUnpinned(w, report);
        }),
        [TYPES.deployment]: on<IDeployment>((w, _a, report) => reportUnpinned(w, report)),
    }),
};

function reportUnpinned(w: IStatefulSet | IDeployment, report: ReportViolation): void {
    for (const c of allContainers(w.spec?.template?.spec)) {
        if (!isPinnedImage(c.image)) {
            report(
                `Container '${c.name}' uses image '${c.image ?? "(none)"}': pin a version tag or digest so every pod, and every restart, runs the same code.`,
            );
        }
    }
}

/** A validation for every workload type, given its pod template. */
function forWorkloads(validate: (pod: NonNullable<ReturnType<typeof podTemplateOf>>, report: ReportViolation) => void): ResourceValidation {
    return (args, report) => {
        const pod = podTemplateOf(args.type, args.props);
        if (!pod) return args.notApplicable(`applies to ${WORKLOAD_TYPES.join(", ")}`);
        validate(pod, report);
    };
}

export const imageDigest: ResourceValidationPolicy = {
    name: "image-digest",
    description: "Every container of every workload names its image by sha256 digest (the tag may stay for readers).",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Append @sha256:<digest> of the image index (docker buildx imagetools inspect <image>), e.g. redis:7.2.16-bookworm@sha256:...: a tag can be re-pushed, a digest cannot.",
    validateResource: forWorkloads((pod, report) => {
        for (const c of allContainers(pod.spec)) {
            if (!hasDigest(c.image)) {
                report(
                    `Container '${c.name}' uses image '${c.image ?? "(none)"}' without a digest: whoever can push that tag decides what runs here; pin it as ${c.image ?? "<image>"}@sha256:<digest>.`,
                );
            }
        }
    }),
};

export const podServiceAccountToken: ResourceValidationPolicy = {
    name: "pod-service-account-token",
    description: "Pods do not mount a Kubernetes API token unless they need one (automountServiceAccountToken: false).",
    enforcementLevel: "mandatory",
    severity: "medium",
    remediationSteps:
        "Set spec.template.spec.automountServiceAccountToken: false; a workload that calls the API gets its own ServiceAccount and a Role, and sets it to true explicitly.",
    validateResource: forWorkloads((pod, report) => {
        if (pod.spec?.automountServiceAccountToken === undefined) {
            report(
                "The pod template leaves automountServiceAccountToken unset, so every container gets an API token (the ServiceAccount's default); set it to false unless the pods call the API.",
            );
        }
    }),
};

const versionSchema: PolicyConfigSchema = {
    properties: {
        minMajorVersion: {
            type: "integer",
            minimum: 1,
            default: 7,
            description: "Oldest Redis major version (7 announces hostnames, which pod IP churn needs).",
        },
    },
};

export const redisVersion: ResourceValidationPolicy = {
    name: "redis-version",
    description: "The Redis image is a major version that supports cluster-announce-hostname (7+).",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: versionSchema,
    validateResource: forType<IStatefulSet>(TYPES.statefulSet, (sts, args, report) => {
        const redis = asRedisStatefulSet(sts) ?? args.notApplicable("not a Redis StatefulSet");
        const { minMajorVersion } = configOf(args, defaultsOf<{ minMajorVersion: number }>(versionSchema));
        for (const c of redis.containers) {
            const major = c.image ? imageMajorVersion(c.image) : undefined;
            if (major !== undefined && major < minMajorVersion) {
                report(
                    `Container '${c.name}' runs Redis ${major} (${c.image}); ${minMajorVersion}+ is needed for stable hostnames across pod IP changes.`,
                );
            }
        }
    }),
};

const resourcesSchema: PolicyConfigSchema = {
    properties: {
        requireCpuLimit: {
            type: "boolean",
            default: false,
            description:
                "Also require CPU limits. Off by default: throttling Redis' single thread stalls cluster-bus pings and causes false failovers.",
        },
    },
};

export const redisResources: ResourceValidationPolicy = {
    name: "redis-resources",
    description: "Every container of the Redis pods requests CPU and memory and has a memory limit (Redis derives maxmemory from it).",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: resourcesSchema,
    validateResource: forType<IStatefulSet>(TYPES.statefulSet, (sts, args, report) => {
        if (!asRedisStatefulSet(sts)) args.notApplicable("not a Redis StatefulSet");
        const { requireCpuLimit } = configOf(args, defaultsOf<{ requireCpuLimit: boolean }>(resourcesSchema));
        for (const c of allContainers(sts.spec?.template?.spec)) {
            const missing = [
                c.resources?.requests?.cpu === undefined && "requests.cpu",
                c.resources?.requests?.memory === undefined && "requests.memory",
                c.resources?.limits?.memory === undefined && "limits.memory",
                requireCpuLimit && c.resources?.limits?.cpu === undefined && "limits.cpu",
            ].filter((m): m is string => typeof m === "string");
            if (missing.length > 0) {
                report(
                    `Container '${c.name}' has no ${missing.join(", ")}: the scheduler cannot place it safely and the OOM killer picks it first.`,
                );
            }
        }
    }),
};

export const redisProbes: ResourceValidationPolicy = {
    name: "redis-probes",
    description: "Redis containers have readiness and liveness probes.",
    enforcementLevel: "mandatory",
    severity: "medium",
    validateResource: forType<IStatefulSet>(TYPES.statefulSet, (sts, args, report) => {
        const redis = asRedisStatefulSet(sts) ?? args.notApplicable("not a Redis StatefulSet");
        for (const c of redis.containers) {
            const missing = [!c.readinessProbe && "readinessProbe", !c.livenessProbe && "livenessProbe"].filter(Boolean);
            if (missing.length > 0) {
                report(
                    `Redis container '${c.name}' has no ${missing.join(" and ")}: a hung node keeps traffic and rolling updates do not wait for it.`,
                );
            }
        }
    }),
};

const SPREAD_KEYS = ["kubernetes.io/hostname", "topology.kubernetes.io/zone"];

export const redisSpread: ResourceValidationPolicy = {
    name: "redis-spread",
    description: "Redis pods are spread across nodes or zones (topologySpreadConstraints or pod anti-affinity).",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: forType<IStatefulSet>(TYPES.statefulSet, (sts, args, report) => {
        if (!asRedisStatefulSet(sts)) args.notApplicable("not a Redis StatefulSet");
        const pod = sts.spec?.template?.spec;
        const spread = (pod?.topologySpreadConstraints ?? []).some((t) => SPREAD_KEYS.includes(t.topologyKey));
        const anti = pod?.affinity?.podAntiAffinity;
        const antiKeys = [
            ...(anti?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => t.topologyKey),
            ...(anti?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => t.podAffinityTerm.topologyKey),
        ];
        if (!spread && !antiKeys.some((k) => SPREAD_KEYS.includes(k))) {
            report(
                `Redis pods have no topology spread or anti-affinity on ${SPREAD_KEYS.join(" or ")}: one node failure can take a master and its replica.`,
            );
        }
    }),
};

const nodeTimeoutSchema: PolicyConfigSchema = {
    properties: {
        minMs: {
            type: "integer",
            minimum: 100,
            default: 1000,
            description: "Below this, GC pauses and network blips cause spurious failovers.",
        },
        maxMs: {
            type: "integer",
            minimum: 1000,
            default: 10000,
            description: "Above this, a dead master keeps its slots unwritable for longer.",
        },
    },
};

export const redisNodeTimeout: ResourceValidationPolicy = {
    name: "redis-node-timeout",
    description: "cluster-node-timeout is set and within a sane range (a trade-off: failover speed vs. spurious failovers).",
    enforcementLevel: "advisory",
    severity: "low",
    configSchema: nodeTimeoutSchema,
    validateResource: forType<IConfigMap>(TYPES.configMap, (cm, args, report) => {
        const shipped = redisConfigOf(cm) ?? args.notApplicable("no cluster redis.conf in this ConfigMap");
        const { minMs, maxMs } = configOf(args, defaultsOf<{ minMs: number; maxMs: number }>(nodeTimeoutSchema));
        for (const conf of shipped.confs) {
            // Redis' own default when the directive is absent.
            const timeout = Number(conf.get("cluster-node-timeout") ?? 15000);
            if (!(timeout >= minMs && timeout <= maxMs)) {
                report(
                    `cluster-node-timeout is ${timeout} ms, outside [${minMs}, ${maxMs}]: writes to a dead master's slots fail for about that long plus ~1 s.`,
                );
            }
        }
    }),
};

// ---------------------------------------------------------------- Redis: stack-wide

const pdbSchema: PolicyConfigSchema = {
    properties: {
        maxDisruptions: {
            type: "integer",
            minimum: 1,
            default: 1,
            description: "Most Redis pods a voluntary disruption may take at once.",
        },
    },
};

export const redisPodDisruptionBudget: StackValidationPolicy = {
    name: "redis-pod-disruption-budget",
    description: "A PodDisruptionBudget selects the Redis pods and lets at most one go at a time.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema: pdbSchema,
    validateStack: (args, report) => {
        const { maxDisruptions } = configOf(args, defaultsOf<{ maxDisruptions: number }>(pdbSchema));
        const pdbs = resourcesOfType<IPodDisruptionBudget>(args, TYPES.podDisruptionBudget);
        for (const w of requireRedisWorkloads(args)) {
            const covering = pdbs.filter(
                (p) => sameNamespace(p.props.metadata?.namespace, w.namespace) && selectorMatches(p.props.spec?.selector, w.podLabels),
            );
            if (covering.length === 0) {
                report(
                    `No PodDisruptionBudget selects the pods of ${w.label}: a node drain may evict a master and its replica together.`,
                    w.resource.urn,
                );
                continue;
            }
            const allowed = Math.min(...covering.map((p) => pdbAllowedDisruptions(p.props, w.replicas)));
            if (allowed > maxDisruptions) {
                report(
                    `The PodDisruptionBudget of ${w.label} allows ${allowed} pods down at once; at most ${maxDisruptions}.`,
                    covering[0].resource.urn,
                );
            }
        }
    },
};

/** One NetworkPolicy rule in one direction, with the policy it came from. */
interface PolicyRule {
    readonly peers?: readonly INetworkPolicyPeer[];
    readonly ports?: readonly INetworkPolicyPort[];
    readonly urn: string;
}

/** The NetworkPolicies in `namespace` that select pods with `labels` for `direction`. */
function coveringPolicies(
    args: StackValidationArgs,
    namespace: string | undefined,
    labels: Labels,
    direction: "Ingress" | "Egress",
): { resource: PolicyResource; props: INetworkPolicy }[] {
    return resourcesOfType<INetworkPolicy>(args, TYPES.networkPolicy).filter((p) => {
        const spec = p.props.spec;
        // Without policyTypes, Kubernetes takes Ingress, plus Egress when egress rules are given.
        const types = spec?.policyTypes ?? ["Ingress", ...(spec?.egress ? ["Egress"] : [])];
        return (
            types.includes(direction) && sameNamespace(p.props.metadata?.namespace, namespace) && selectorMatches(spec?.podSelector, labels)
        );
    });
}

/** Every rule of these policies in one direction (`from` peers for ingress, `to` peers for egress). */
function rulesOf(policies: readonly { resource: PolicyResource; props: INetworkPolicy }[], direction: "Ingress" | "Egress"): PolicyRule[] {
    return policies.flatMap((p) =>
        direction === "Ingress"
            ? (p.props.spec?.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports, urn: p.resource.urn }))
            : (p.props.spec?.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports, urn: p.resource.urn })),
    );
}

const OPEN_FORMS =
    "no `from`, `namespaceSelector: {}` (any namespace, whatever pod labels follow), `podSelector: {}` (any pod of the namespace), or ipBlocks spanning a /8 or more (0.0.0.0/0, 0.0.0.0/1 + 128.0.0.0/1, ...)";

export const redisNetworkPolicy: StackValidationPolicy = {
    name: "redis-network-policy",
    description: `A NetworkPolicy selects the Redis pods and admits ports ${REDIS_CLIENT_PORT} (clients) and ${REDIS_BUS_PORT} (cluster bus) only from listed peers.`,
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: `Admit ${REDIS_CLIENT_PORT} and ${REDIS_BUS_PORT} from the Redis pods' own labels and the app's labels only; never ${OPEN_FORMS}.`,
    validateStack: (args, report) => {
        for (const w of requireRedisWorkloads(args)) {
            const covering = coveringPolicies(args, w.namespace, w.podLabels, "Ingress");
            if (covering.length === 0) {
                report(
                    `No ingress NetworkPolicy selects the pods of ${w.label}: every pod in the cluster can reach ${REDIS_CLIENT_PORT} and ${REDIS_BUS_PORT}.`,
                    w.resource.urn,
                );
                continue;
            }
            const named = namedPorts(w.containers);
            const rules = rulesOf(covering, "Ingress");
            for (const port of [REDIS_CLIENT_PORT, REDIS_BUS_PORT]) {
                const admitting = rules.filter((r) => portsAllow(r.ports, port, named));
                if (admitting.length === 0) {
                    report(
                        `The NetworkPolicies of ${w.label} admit nothing on port ${port}: ${port === REDIS_BUS_PORT ? "the nodes cannot gossip" : "clients cannot connect"}.`,
                        w.resource.urn,
                    );
                } else if (rulesAreOpen(admitting)) {
                    report(
                        `The NetworkPolicies of ${w.label} admit anyone on port ${port} (${OPEN_FORMS}); list the peers (Redis pods, app pods).`,
                        admitting[0].urn,
                    );
                }
            }
        }
    },
};

/** The flags a redis_exporter must run with so that its port leaks nothing but metrics. */
const EXPORTER_SWITCHES = [
    {
        flag: "--disable-scrape-endpoint",
        env: "REDIS_EXPORTER_DISABLE_SCRAPE_ENDPOINT",
        why: "/scrape?target= connects anywhere with the password",
    },
    { flag: "--disable-exporting-key-values", env: "REDIS_EXPORTER_DISABLE_EXPORTING_KEY_VALUES", why: "key values become metric labels" },
] as const;

function isExporter(c: { image?: string }): boolean {
    return c.image !== undefined && (parseImage(c.image).repository.split("/").pop() ?? "") === "redis_exporter";
}

function exporterSwitchOn(
    c: { args?: string[]; command?: string[]; env?: { name: string; value?: string }[] },
    s: (typeof EXPORTER_SWITCHES)[number],
): boolean {
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    const flagOn = argv.some(
        (a) => a === s.flag || a === `-${s.flag.slice(2)}` || a === `${s.flag}=true` || a === `-${s.flag.slice(2)}=true`,
    );
    return flagOn || (c.env ?? []).some((e) => e.name === s.env && e.value === "true");
}

export const redisMetricsExposure: StackValidationPolicy = {
    name: "redis-metrics-exposure",
    description: `The redis_exporter port ${REDIS_METRICS_PORT} is admitted only from pinned monitoring namespaces, and the exporter runs without /scrape and key-value export.`,
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps: `Admit ${REDIS_METRICS_PORT} from namespaceSelector matchLabels kubernetes.io/metadata.name=<monitoring namespace>; run redis_exporter >= v1.83.0 with ${EXPORTER_SWITCHES.map((s) => s.flag).join(" ")}.`,
    validateStack: (args, report) => {
        for (const w of requireRedisWorkloads(args)) {
            const pod = (w.resource.props as IStatefulSet).spec?.template?.spec;
            const exporters = (pod?.containers ?? []).filter(isExporter);
            for (const c of exporters) {
                for (const sw of EXPORTER_SWITCHES.filter((x) => !exporterSwitchOn(c, x))) {
                    report(`Exporter container '${c.name}' of ${w.label} runs without ${sw.flag}: ${sw.why}.`, w.resource.urn);
                }
            }
            const metricsPorts = new Set([REDIS_METRICS_PORT, ...exporters.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort))]);
            const named = namedPorts(pod?.containers ?? []);
            const rules = rulesOf(coveringPolicies(args, w.namespace, w.podLabels, "Ingress"), "Ingress");
            for (const port of metricsPorts) {
                const admitting = rules.filter((r) => portsAllow(r.ports, port, named));
                if (admitting.length > 0 && rulesAreOpen(admitting)) {
                    report(
                        `The NetworkPolicies of ${w.label} admit anyone on metrics port ${port} (${OPEN_FORMS}); admit only the monitoring namespaces by name.`,
                        admitting[0].urn,
                    );
                }
            }
        }
    },
};

/** Deployments (apps) of the stack that are not Redis. */
function appWorkloads(args: StackValidationArgs): { resource: PolicyResource; label: string; namespace?: string; labels: Labels }[] {
    return resourcesOfType<IDeployment>(args, TYPES.deployment)
        .filter(({ props }) => redisContainers(props.spec?.template?.spec).length === 0)
        .map(({ resource, props }) => ({
            resource,
            label: displayName(resource),
            namespace: props.metadata?.namespace,
            labels: podLabels(props),
        }));
}

export const appNetworkPolicy: StackValidationPolicy = {
    name: "app-network-policy",
    description:
        "Every app Deployment is selected by ingress and egress NetworkPolicies; a rule that admits anyone (or reaches anywhere) names its ports.",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Give the app a NetworkPolicy with policyTypes [Ingress, Egress]: its serving port from anyone, metrics from the monitoring namespaces, egress to the Redis pods and DNS only.",
    validateStack: (args, report) => {
        const apps = appWorkloads(args);
        if (apps.length === 0) args.notApplicable("no Deployment in this stack");
        for (const app of apps) {
            for (const direction of ["Ingress", "Egress"] as const) {
                const covering = coveringPolicies(args, app.namespace, app.labels, direction);
                if (covering.length === 0) {
                    report(
                        `No ${direction.toLowerCase()} NetworkPolicy selects the pods of ${app.label}: ${direction === "Ingress" ? "any pod can reach every port of it" : "a compromised app can reach anything"}.`,
                        app.resource.urn,
                    );
                    continue;
                }
                const allPortsOpen = rulesOf(covering, direction).filter((r) => (r.ports ?? []).length === 0 && rulesAreOpen([r]));
                for (const r of allPortsOpen) {
                    report(
                        `A NetworkPolicy rule of ${app.label} ${direction === "Ingress" ? "admits anyone on every port" : "lets it reach anything on every port"}; list the ports (and peers).`,
                        r.urn,
                    );
                }
            }
        }
    },
};

const EXTERNAL_SERVICE_TYPES = ["LoadBalancer", "NodePort"];
/** Port names the Redis pods give their client and bus ports (this program's and common charts'). */
const REDIS_PORT_NAMES = new Set(["client", "bus", "redis", "gossip", "tcp-redis", "tcp-redis-bus"]);
/** Selector values that name Redis itself (`app: redis`, `app.kubernetes.io/name: redis-cluster`, ...). */
const REDIS_SELECTOR_VALUE = /^(redis|valkey)(-cluster)?$/i;

/**
 * What a Service alone shows of Redis behind it: a Redis port (client or bus, by number or by the
 * pods' port name) or a selector that names Redis. Undefined when the Service itself shows none.
 */
export function redisSignOfService(svc: IService): string | undefined {
    for (const p of svc.spec?.ports ?? []) {
        for (const port of [p.port, p.targetPort]) {
            if (port === REDIS_CLIENT_PORT || port === REDIS_BUS_PORT) return `port ${port}`;
            if (typeof port === "string" && REDIS_PORT_NAMES.has(port)) return `target port '${port}'`;
        }
    }
    const named = Object.entries(svc.spec?.selector ?? {}).find(([, v]) => REDIS_SELECTOR_VALUE.test(v));
    return named ? `selector ${named[0]}=${named[1]}` : undefined;
}

function isExternal(svc: IService): boolean {
    return EXTERNAL_SERVICE_TYPES.includes(svc.spec?.type ?? "ClusterIP");
}

/**
 * A resource policy: the engine asks it about each Service before creating or updating it, at
 * preview and at every step of `pulumi up` (also with --skip-preview), so a Redis Service never
 * becomes reachable from outside, even for a moment.
 */
export const redisNoExternalService: ResourceValidationPolicy = {
    name: "redis-no-external-service",
    description: "No LoadBalancer or NodePort Service exposes Redis (checked on each Service before it is created or updated).",
    enforcementLevel: "mandatory",
    severity: "critical",
    remediationSteps:
        "Keep Redis Services ClusterIP (or headless); clients outside the cluster reach Redis through an app, a VPN or kubectl port-forward.",
    validateResource: forType<IService>(TYPES.service, (svc, _args, report) => {
        if (!isExternal(svc)) return;
        const sign = redisSignOfService(svc);
        if (sign) report(`Service ${svc.metadata?.name ?? "(unnamed)"} (${svc.spec?.type}) exposes Redis outside the cluster (${sign}).`);
    }),
};

/**
 * The backstop, after the steps (stack policies see the final state only): an external Service that
 * shows nothing of Redis by itself but selects the pods of a Redis StatefulSet of the stack.
 */
export const redisNoExternalServiceSelector: StackValidationPolicy = {
    name: "redis-no-external-service-selector",
    description: "No LoadBalancer or NodePort Service selects the pods of a Redis StatefulSet (checked on the whole stack).",
    enforcementLevel: "mandatory",
    severity: "critical",
    validateStack: (args, report) => {
        const services = resourcesOfType<IService>(args, TYPES.service);
        for (const w of requireRedisWorkloads(args)) {
            for (const s of services) {
                if (
                    isExternal(s.props) &&
                    // The resource policy already refused these, before they existed.
                    redisSignOfService(s.props) === undefined &&
                    sameNamespace(s.props.metadata?.namespace, w.namespace) &&
                    serviceSelects(s.props.spec?.selector, w.podLabels)
                ) {
                    report(
                        `Service ${displayName(s.resource)} (${s.props.spec?.type}) exposes the pods of ${w.label} outside the cluster.`,
                        s.resource.urn,
                    );
                }
            }
        }
    },
};

// ---------------------------------------------------------------- formation

function formations(args: StackValidationArgs): { resource: PolicyResource; props: FormationProps }[] {
    return args.resources
        .filter((r) => isFormation(r.type, r.props))
        .map((resource) => ({ resource, props: resource.props as FormationProps }));
}

export const redisFormationMatchesStatefulSet: StackValidationPolicy = {
    name: "redis-formation-matches-statefulset",
    description:
        "The formation resource forms exactly the pods the Redis StatefulSet runs (masters × (1 + replicas per master)), " +
        "beside the surge pod when the formation says the StatefulSet runs one.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateStack: (args, report) => {
        const found = formations(args);
        if (found.length === 0) args.notApplicable("no Redis cluster formation in this stack");
        const workloads = redisWorkloads(args);
        for (const { resource, props: f } of found) {
            const sts = workloads.find((w) => w.name === f.statefulSetName && sameNamespace(w.namespace, f.namespace));
            if (!sts) {
                report(
                    `Formation targets StatefulSet '${f.statefulSetName}', which is not a Redis StatefulSet of this stack.`,
                    resource.urn,
                );
                continue;
            }
            const expected = (f.masters ?? 0) * (1 + (f.replicasPerMaster ?? 0));
            // The surge pod (issue 15): one pod beyond the members, at the highest ordinal, recruited
            // while a shard's pod is stopped; the formation says whether the StatefulSet runs it.
            const pods = expected + (f.surgeReplica === true ? 1 : 0);
            if (sts.replicas !== pods) {
                report(
                    `Formation wants ${f.masters} masters × (1 + ${f.replicasPerMaster}) = ${expected} nodes` +
                        (f.surgeReplica === true ? ` and the surge pod (${pods} pods)` : "") +
                        ` but ${sts.label} runs ${sts.replicas} pods.`,
                    resource.urn,
                );
            }
        }
    },
};

export const redisFormationPlacement: StackValidationPolicy = {
    name: "redis-formation-placement",
    description:
        "The formed cluster never has a replica on the same Kubernetes node (or zone, where there are zones) as its master (placementOk).",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Add nodes (or zones) so the formation can pair each master with replicas elsewhere, or set this policy to advisory for single-node clusters.",
    validateStack: (args, report) => {
        const found = formations(args);
        if (found.length === 0) args.notApplicable("no Redis cluster formation in this stack");
        for (const { resource, props: f } of found) {
            // Reading placementOk during preview throws the engine's UnknownValueError, which it reports as advisory.
            const ok = f.placementOk;
            if (ok === true) continue;
            const why =
                ok === undefined
                    ? "does not report placementOk"
                    : `reports placement problems: ${(f.placementWarnings ?? []).join("; ") || "(no details)"}`;
            report(`Formation of '${f.statefulSetName}' ${why}.`, resource.urn);
        }
    },
};

// ---------------------------------------------------------------- GKE

const regionalSchema: PolicyConfigSchema = {
    properties: {
        minZones: { type: "integer", minimum: 2, default: 2, description: "Fewest zones for nodes when nodeLocations is given." },
    },
};

export const gkeRegional: ResourceValidationPolicy = {
    name: "gke-regional",
    description: "The GKE cluster is regional (replicated control plane) and its nodes span several zones.",
    enforcementLevel: "mandatory",
    severity: "high",
    configSchema: regionalSchema,
    validateResource: forTypes({
        [TYPES.gkeCluster]: on<GkeClusterProps>((c, args, report) => {
            if (!isGcpRegion(c.location)) {
                report(
                    `GKE cluster location '${c.location ?? "(provider default)"}' is not a region: a zonal control plane and single-zone nodes go down with one zone.`,
                );
            }
            reportFewZones(c.nodeLocations, args, report);
        }),
        [TYPES.gkeNodePool]: on<GkeNodePoolProps>((p, args, report) => reportFewZones(p.nodeLocations, args, report)),
    }),
};

function reportFewZones(nodeLocations: readonly string[] | undefined, args: ResourceValidationArgs, report: ReportViolation): void {
    const { minZones } = configOf(args, defaultsOf<{ minZones: number }>(regionalSchema));
    if (nodeLocations !== undefined && new Set(nodeLocations).size < minZones) {
        report(`nodeLocations [${nodeLocations.join(", ")}] span fewer than ${minZones} zones.`);
    }
}

export const gkeNodeAutoRepairUpgrade: ResourceValidationPolicy = {
    name: "gke-node-auto-repair-upgrade",
    description: "GKE node pools have auto-repair and auto-upgrade on.",
    enforcementLevel: "mandatory",
    severity: "medium",
    validateResource: forType<GkeNodePoolProps>(TYPES.gkeNodePool, (p, _args, report) => {
        if (p.management?.autoRepair !== true) report("Node pool does not set management.autoRepair = true: broken nodes stay broken.");
        if (p.management?.autoUpgrade !== true)
            report("Node pool does not set management.autoUpgrade = true: nodes fall behind the control plane.");
    }),
};

/** GKE's own defaults for a node pool's surge upgrade. */
const GKE_DEFAULT_MAX_SURGE = 1;
const GKE_DEFAULT_MAX_UNAVAILABLE = 0;

export const gkeNodeUpgradeSurge: ResourceValidationPolicy = {
    name: "gke-node-upgrade-surge",
    description:
        "Node-pool upgrades bring a new node up before draining an old one (surge, no node unavailable), so drained Redis pods start again at once.",
    enforcementLevel: "advisory",
    severity: "medium",
    validateResource: forType<GkeNodePoolProps>(TYPES.gkeNodePool, (p, _args, report) => {
        const u = p.upgradeSettings;
        // Blue-green keeps the old nodes until the new ones run the pods.
        if (u?.strategy === "BLUE_GREEN") return;
        const unavailable = u?.maxUnavailable ?? GKE_DEFAULT_MAX_UNAVAILABLE;
        if (unavailable > 0)
            report(
                `Node pool upgrades take ${unavailable} node(s) down without a replacement (upgradeSettings.maxUnavailable): a drained Redis pod may wait for a node, its shard without a replica meanwhile.`,
            );
        if ((u?.maxSurge ?? GKE_DEFAULT_MAX_SURGE) < 1 && unavailable > 0)
            report("Node pool upgrades add no node first (upgradeSettings.maxSurge 0): every drain shrinks the pool.");
    }),
};

export const gkeWorkloadIdentity: ResourceValidationPolicy = {
    name: "gke-workload-identity",
    description: "Workload Identity is on, so pods never see the node's credentials.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: forTypes({
        [TYPES.gkeCluster]: on<GkeClusterProps>((c, _a, report) => {
            if (c.enableAutopilot) return;
            if (!c.workloadIdentityConfig?.workloadPool) report("GKE cluster has no workloadIdentityConfig.workloadPool.");
        }),
        [TYPES.gkeNodePool]: on<GkeNodePoolProps>((p, _a, report) => {
            const mode = p.nodeConfig?.workloadMetadataConfig?.mode;
            if (mode !== undefined && mode !== "GKE_METADATA")
                report(`Node pool's workloadMetadataConfig.mode is ${mode}: pods can read the node's metadata credentials.`);
        }),
    }),
};

export const gkeNoLegacyAbac: ResourceValidationPolicy = {
    name: "gke-no-legacy-abac",
    description: "Legacy ABAC is off (RBAC only).",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: forType<GkeClusterProps>(TYPES.gkeCluster, (c, _args, report) => {
        if (c.enableLegacyAbac === true) report("GKE cluster enables legacy ABAC, which grants broad permissions outside RBAC.");
    }),
};

const releaseChannelSchema: PolicyConfigSchema = {
    properties: {
        allowedChannels: {
            type: "array",
            items: { type: "string", enum: ["RAPID", "REGULAR", "STABLE", "EXTENDED"] },
            default: ["REGULAR", "STABLE", "EXTENDED"],
            description: "Release channels a production cluster may follow.",
        },
    },
};

export const gkeReleaseChannel: ResourceValidationPolicy = {
    name: "gke-release-channel",
    description: "The GKE cluster follows a release channel, so control plane and nodes are upgraded automatically.",
    enforcementLevel: "mandatory",
    severity: "medium",
    configSchema: releaseChannelSchema,
    validateResource: forType<GkeClusterProps>(TYPES.gkeCluster, (c, args, report) => {
        const { allowedChannels } = configOf(args, defaultsOf<{ allowedChannels: string[] }>(releaseChannelSchema));
        const channel = c.releaseChannel?.channel;
        if (!channel || !allowedChannels.includes(channel)) {
            report(`GKE cluster release channel is ${channel ?? "unset"}; use one of ${allowedChannels.join(", ")}.`);
        }
    }),
};

export const gkeNodeServiceAccount: ResourceValidationPolicy = {
    name: "gke-node-service-account",
    description:
        "GKE nodes run as a dedicated service account, not the Compute Engine default (project editor), the cluster's first pool included.",
    enforcementLevel: "mandatory",
    severity: "high",
    validateResource: forTypes({
        [TYPES.gkeCluster]: on<GkeClusterProps>((c, args, report) => {
            if (c.enableAutopilot) args.notApplicable("Autopilot manages its nodes");
            // Even with removeDefaultNodePool, GKE first creates that pool, as this account: a project
            // that disabled the Compute Engine default account cannot create the cluster otherwise.
            if (isDefaultComputeServiceAccount(c.nodeConfig?.serviceAccount)) {
                report(
                    `The cluster's ${c.removeDefaultNodePool ? "first (removed) " : "default "}node pool runs as the Compute Engine default service account; set nodeConfig.serviceAccount to the dedicated node account.`,
                );
            }
        }),
        [TYPES.gkeNodePool]: on<GkeNodePoolProps>((p, _a, report) => {
            if (isDefaultComputeServiceAccount(p.nodeConfig?.serviceAccount)) {
                report(
                    `Node pool runs as ${p.nodeConfig?.serviceAccount ?? "the Compute Engine default service account"}; give it a dedicated, least-privilege account.`,
                );
            }
        }),
    }),
};

/** A control-plane CIDR that is most of the internet rather than "my networks". */
function isOpenCidr(cidr: string): boolean {
    const prefix = Number(cidr.split("/")[1]);
    return !(prefix >= 8);
}

export const gkeControlPlaneAccess: ResourceValidationPolicy = {
    name: "gke-control-plane-access",
    description:
        "The GKE control plane's IP endpoint is not open to the internet: it is private, switched off, or limited to authorized networks (not all of Google Cloud).",
    enforcementLevel: "mandatory",
    severity: "high",
    remediationSteps:
        "Set masterAuthorizedNetworksConfig with your networks (gcpPublicCidrsAccessEnabled false), or turn the IP endpoint off and use the DNS-based endpoint (controlPlaneEndpointsConfig.dnsEndpointConfig).",
    validateResource: forType<GkeClusterProps>(TYPES.gkeCluster, (c, _args, report) => {
        if (c.privateClusterConfig?.enablePrivateEndpoint === true) return;
        if (c.controlPlaneEndpointsConfig?.ipEndpointsConfig?.enabled === false) return;
        const authorized = c.masterAuthorizedNetworksConfig;
        if (!authorized) {
            report("The control plane's public IP endpoint admits every address: no masterAuthorizedNetworksConfig.");
            return;
        }
        if (authorized.gcpPublicCidrsAccessEnabled === true) {
            report("masterAuthorizedNetworksConfig.gcpPublicCidrsAccessEnabled admits every Google Cloud address, i.e. anyone with a VM.");
        }
        for (const { cidrBlock } of authorized.cidrBlocks ?? []) {
            if (isOpenCidr(cidrBlock)) report(`Authorized network ${cidrBlock} is most of the internet; list your own networks.`);
        }
    }),
};

// ---------------------------------------------------------------- the pack

export const resourcePolicies: readonly ResourceValidationPolicy[] = [
    redisPasswordFromSecret,
    redisProtectedMode,
    redisMasterauth,
    redisDefaultUserOff,
    redisTls,
    redisPersistence,
    redisClusterSize,
    redisImagePinned,
    imageDigest,
    podServiceAccountToken,
    redisVersion,
    redisResources,
    redisProbes,
    redisSpread,
    redisNodeTimeout,
    redisNoExternalService,
    gkeRegional,
    gkeNodeAutoRepairUpgrade,
    gkeNodeUpgradeSurge,
    gkeWorkloadIdentity,
    gkeNoLegacyAbac,
    gkeReleaseChannel,
    gkeNodeServiceAccount,
    gkeControlPlaneAccess,
];

export const stackPolicies: readonly StackValidationPolicy[] = [
    redisPodDisruptionBudget,
    redisNetworkPolicy,
    redisMetricsExposure,
    appNetworkPolicy,
    redisNoExternalServiceSelector,
    redisFormationMatchesStatefulSet,
    redisFormationPlacement,
];

export const policies: readonly (ResourceValidationPolicy | StackValidationPolicy)[] = [...resourcePolicies, ...stackPolicies];
