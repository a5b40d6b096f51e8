/**
 * Pure: a StatefulSet's pod template (as rendered by components/redis/manifests.ts and written
 * to DIR by `up`) -> the processes of one local pod. The runtime runs the pod exactly as the
 * template says: the containers' commands, their env contract (fieldRef and secretKeyRef
 * resolved as the kubelet does, `$(VAR)` expanded), their probes, preStop hooks, init containers
 * and the grace period. What a pod's own network namespace and mount namespace give it for free
 * is mapped instead:
 * - mounts: a path under a container's mountPath, in its command, args, env or probe commands,
 *   becomes the volume's local directory (ConfigMap/Secret volumes materialized once, emptyDirs
 *   per pod, volume claims per pod);
 * - network: each pod has its own loopback address; `localEnv` and `localArgs` (given by the
 *   caller, kept apart from the template) carry what that needs, e.g. redis-server's `bind`.
 * Containers whose image is not one the runtime can run locally (e.g. the metrics exporter) are
 * left out and listed in `skipped`.
 */

/** The parts of a Kubernetes pod template the runtime reads (plain JSON). */
export interface EnvVarJson {
    readonly name: string;
    readonly value?: string;
    readonly valueFrom?: {
        readonly fieldRef?: { readonly fieldPath: string };
        readonly secretKeyRef?: { readonly name: string; readonly key: string };
        readonly configMapKeyRef?: { readonly name: string; readonly key: string };
    };
}

export interface ProbeJson {
    readonly exec?: { readonly command: readonly string[] };
    readonly httpGet?: { readonly path?: string; readonly port: string | number };
    readonly tcpSocket?: unknown;
    readonly grpc?: unknown;
    readonly initialDelaySeconds?: number;
    readonly periodSeconds?: number;
    readonly timeoutSeconds?: number;
    readonly failureThreshold?: number;
    readonly successThreshold?: number;
}

export interface HandlerJson {
    readonly exec?: { readonly command: readonly string[] };
    readonly sleep?: { readonly seconds: number };
    readonly httpGet?: unknown;
    readonly tcpSocket?: unknown;
}

export interface ContainerJson {
    readonly name: string;
    readonly image: string;
    readonly command?: readonly string[];
    readonly args?: readonly string[];
    readonly env?: readonly EnvVarJson[];
    readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[];
    readonly startupProbe?: ProbeJson;
    readonly livenessProbe?: ProbeJson;
    readonly readinessProbe?: ProbeJson;
    readonly lifecycle?: { readonly preStop?: HandlerJson; readonly postStart?: HandlerJson };
    readonly volumeMounts?: readonly { readonly name: string; readonly mountPath: string; readonly subPath?: string }[];
}

export interface VolumeJson {
    readonly name: string;
    readonly configMap?: { readonly name: string; readonly items?: readonly { readonly key: string; readonly path: string }[] };
    readonly secret?: { readonly secretName: string; readonly items?: readonly { readonly key: string; readonly path: string }[] };
    readonly emptyDir?: unknown;
    readonly persistentVolumeClaim?: unknown;
}

export interface PodTemplateJson {
    readonly metadata?: { readonly labels?: Readonly<Record<string, string>> };
    readonly spec: {
        readonly initContainers?: readonly ContainerJson[];
        readonly containers: readonly ContainerJson[];
        readonly volumes?: readonly VolumeJson[];
        readonly terminationGracePeriodSeconds?: number;
    };
}

export interface StatefulSetJson {
    readonly metadata: { readonly name: string; readonly namespace?: string };
    readonly spec: {
        readonly replicas: number;
        readonly serviceName: string;
        readonly template: PodTemplateJson;
        readonly volumeClaimTemplates?: readonly { readonly metadata: { readonly name: string } }[];
    };
}

export interface ConfigMapJson {
    readonly metadata: { readonly name: string };
    readonly data: Readonly<Record<string, string>>;
}

/** A command the runtime runs in a pod, with the container's environment. */
export interface LocalProbe {
    readonly action: { readonly exec: readonly string[] } | { readonly httpGet: { readonly path: string; readonly port: number } };
    readonly initialDelayMs: number;
    readonly periodMs: number;
    readonly timeoutMs: number;
    readonly failureThreshold: number;
    readonly successThreshold: number;
}

export type LocalHook = { readonly exec: readonly string[] } | { readonly sleepMs: number };

export interface LocalContainer {
    readonly name: string;
    readonly image: string;
    readonly argv: readonly string[];
    readonly env: Readonly<Record<string, string>>;
    readonly startupProbe?: LocalProbe;
    readonly livenessProbe?: LocalProbe;
    readonly readinessProbe?: LocalProbe;
    readonly preStop?: LocalHook;
}

export interface LocalPodSpec {
    readonly name: string;
    readonly address: string;
    readonly initContainers: readonly LocalContainer[];
    readonly containers: readonly LocalContainer[];
    readonly terminationGracePeriodMs: number;
    /** Containers of the template that do not run locally, with why. */
    readonly skipped: readonly string[];
}

/** Where each kind of volume lives locally. */
export interface VolumeRoots {
    /** ConfigMap and Secret volumes (shared by every pod). */
    readonly shared: (volume: string) => string;
    /** emptyDir volumes of this pod. */
    readonly emptyDir: (volume: string) => string;
    /** The pod's claim from a volumeClaimTemplate. */
    readonly claim: (claim: string) => string;
}

export interface LocalPodInput {
    readonly template: PodTemplateJson;
    readonly podName: string;
    readonly namespace: string;
    readonly address: string;
    /** Names of the StatefulSet's volumeClaimTemplates (mounted by name like volumes). */
    readonly claimNames: readonly string[];
    readonly volumes: VolumeRoots;
    /** Secret name -> key -> value; ConfigMap name -> key -> value. */
    readonly secrets: Readonly<Record<string, Readonly<Record<string, string>>>>;
    readonly configMaps: Readonly<Record<string, Readonly<Record<string, string>>>>;
    /** Images the runtime runs (the Redis image); other containers are skipped. */
    readonly runnableImages: readonly string[];
    /** Environment every process of the pod starts with (PATH), below the container's own env. */
    readonly baseEnv: Readonly<Record<string, string>>;
    /** Local-only env added to every container, after its own (e.g. the address probes use for "localhost"). */
    readonly localEnv: Readonly<Record<string, string>>;
    /** Local-only arguments appended to a container's command, by container name (e.g. redis-server's bind). */
    readonly localArgs: Readonly<Record<string, readonly string[]>>;
    /** What `spec.nodeName` and `status.hostIP` are locally. */
    readonly nodeName: string;
}

export class PodTemplateError extends Error {}

const KUBERNETES_DEFAULT_GRACE_SECONDS = 30;

/** The template's containers as local processes of pod `podName`. Throws PodTemplateError naming what cannot run. */
export function localPodSpec(i: LocalPodInput): LocalPodSpec {
    const mounts = volumeMap(i);
    const runnable = (c: ContainerJson) => i.runnableImages.includes(c.image);
    const skipped = [...(i.template.spec.initContainers ?? []), ...i.template.spec.containers]
        .filter((c) => !runnable(c))
        .map((c) => `${c.name} (${c.image}: not the Redis image, not run locally)`);
    const containers = i.template.spec.containers.filter(runnable).map((c) => localContainer(c, i, mounts));
    if (containers.length === 0)
        throw new PodTemplateError(`pod ${i.podName}: no container runs one of the images ${i.runnableImages.join(", ")}`);
    return {
        name: i.podName,
        address: i.address,
        initContainers: (i.template.spec.initContainers ?? []).filter(runnable).map((c) => localContainer(c, i, mounts)),
        containers,
        terminationGracePeriodMs: (i.template.spec.terminationGracePeriodSeconds ?? KUBERNETES_DEFAULT_GRACE_SECONDS) * 1000,
        skipped,
    };
}

/** Volume name -> local directory of this pod. */
function volumeMap(i: LocalPodInput): Map<string, string> {
    const m = new Map<string, string>();
    for (const v of i.template.spec.volumes ?? []) {
        if (v.configMap || v.secret) m.set(v.name, i.volumes.shared(v.name));
        else if (v.emptyDir !== undefined) m.set(v.name, i.volumes.emptyDir(v.name));
        else throw new PodTemplateError(`volume ${v.name}: only configMap, secret, emptyDir and volume claim templates run locally`);
    }
    for (const claim of i.claimNames) m.set(claim, i.volumes.claim(claim));
    return m;
}

function localContainer(c: ContainerJson, i: LocalPodInput, volumes: Map<string, string>): LocalContainer {
    const what = `pod ${i.podName} container ${c.name}`;
    const mounts = (c.volumeMounts ?? []).map((vm) => {
        const local = volumes.get(vm.name);
        if (!local) throw new PodTemplateError(`${what}: volumeMount ${vm.name} names no volume of the pod`);
        if (vm.subPath) throw new PodTemplateError(`${what}: volumeMount ${vm.name} uses subPath, which the local runtime does not map`);
        return { mountPath: vm.mountPath.replace(/\/+$/, ""), local };
    });
    const mapPath = (s: string) => mapMountedPath(s, mounts);
    const vars = resolveEnv(c.env ?? [], i, what);
    const expand = (s: string) => mapPath(expandVars(s, vars));
    const env: Record<string, string> = { ...i.baseEnv };
    for (const [k, v] of Object.entries(vars)) env[k] = mapPath(v);
    Object.assign(env, i.localEnv);
    const command = [...(c.command ?? []), ...(c.args ?? [])];
    if (command.length === 0)
        throw new PodTemplateError(
            `${what}: no command; the local runtime runs explicit commands only (the image's entrypoint is not known here)`,
        );
    const probe = (p: ProbeJson | undefined, kind: string) => (p ? localProbe(p, c, `${what} ${kind}`, expand) : undefined);
    return {
        name: c.name,
        image: c.image,
        argv: [...command.map(expand), ...(i.localArgs[c.name] ?? [])],
        env,
        startupProbe: probe(c.startupProbe, "startupProbe"),
        livenessProbe: probe(c.livenessProbe, "livenessProbe"),
        readinessProbe: probe(c.readinessProbe, "readinessProbe"),
        preStop: c.lifecycle?.preStop ? localHook(c.lifecycle.preStop, `${what} preStop`, expand) : undefined,
    };
}

/** `s` if it is not under a mount; else the same path under the volume's local directory. */
export function mapMountedPath(s: string, mounts: readonly { readonly mountPath: string; readonly local: string }[]): string {
    const byDepth = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
    for (const m of byDepth) {
        if (s === m.mountPath) return m.local;
        if (s.startsWith(m.mountPath + "/")) return m.local + s.slice(m.mountPath.length);
    }
    return s;
}

/** Kubernetes' `$(VAR)` expansion: defined variables are replaced, `$$` escapes, unknown references stay as written. */
export function expandVars(s: string, vars: Readonly<Record<string, string>>): string {
    return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
        if (whole === "$$") return "$";
        return name !== undefined && name in vars ? vars[name] : whole;
    });
}

/** The container's env in order, each value expanded with the variables defined before it, as the kubelet does. */
function resolveEnv(envs: readonly EnvVarJson[], i: LocalPodInput, what: string): Record<string, string> {
    const vars: Record<string, string> = {};
    for (const e of envs) {
        if (e.value !== undefined) vars[e.name] = expandVars(e.value, vars);
        else if (e.valueFrom?.fieldRef) vars[e.name] = fieldValue(e.valueFrom.fieldRef.fieldPath, i, `${what} env ${e.name}`);
        else if (e.valueFrom?.secretKeyRef) vars[e.name] = keyOf(i.secrets, "Secret", e.valueFrom.secretKeyRef, `${what} env ${e.name}`);
        else if (e.valueFrom?.configMapKeyRef)
            vars[e.name] = keyOf(i.configMaps, "ConfigMap", e.valueFrom.configMapKeyRef, `${what} env ${e.name}`);
        else vars[e.name] = "";
    }
    return vars;
}

function fieldValue(fieldPath: string, i: LocalPodInput, what: string): string {
    const label = /^metadata\.labels\['(.+)'\]$/.exec(fieldPath);
    if (label) return i.template.metadata?.labels?.[label[1]] ?? "";
    switch (fieldPath) {
        case "metadata.name":
            return i.podName;
        case "metadata.namespace":
            return i.namespace;
        case "status.podIP":
        case "status.podIPs":
            return i.address;
        case "spec.nodeName":
            return i.nodeName;
        case "status.hostIP":
            return "127.0.0.1";
    }
    throw new PodTemplateError(`${what}: fieldRef ${fieldPath} is not provided by the local runtime`);
}

function keyOf(
    store: Readonly<Record<string, Readonly<Record<string, string>>>>,
    kind: string,
    ref: { readonly name: string; readonly key: string },
    what: string,
): string {
    const value = store[ref.name]?.[ref.key];
    if (value === undefined) throw new PodTemplateError(`${what}: ${kind} ${ref.name} has no key ${ref.key}`);
    return value;
}

function localProbe(p: ProbeJson, c: ContainerJson, what: string, expand: (s: string) => string): LocalProbe {
    const timing = {
        initialDelayMs: (p.initialDelaySeconds ?? 0) * 1000,
        periodMs: (p.periodSeconds ?? 10) * 1000,
        timeoutMs: (p.timeoutSeconds ?? 1) * 1000,
        failureThreshold: p.failureThreshold ?? 3,
        successThreshold: p.successThreshold ?? 1,
    };
    if (p.exec) return { action: { exec: p.exec.command.map(expand) }, ...timing };
    if (p.httpGet) {
        const named = c.ports?.find((port) => port.name === p.httpGet?.port)?.containerPort;
        const port = typeof p.httpGet.port === "number" ? p.httpGet.port : (named ?? Number(p.httpGet.port));
        if (!Number.isInteger(port)) throw new PodTemplateError(`${what}: httpGet port ${p.httpGet.port} is not a port of the container`);
        return { action: { httpGet: { path: p.httpGet.path ?? "/", port } }, ...timing };
    }
    throw new PodTemplateError(`${what}: only exec and httpGet probes run locally`);
}

function localHook(h: HandlerJson, what: string, expand: (s: string) => string): LocalHook {
    if (h.exec) return { exec: h.exec.command.map(expand) };
    if (h.sleep) return { sleepMs: h.sleep.seconds * 1000 };
    throw new PodTemplateError(`${what}: only exec and sleep hooks run locally`);
}

/** The files of a ConfigMap or Secret volume: relative path -> content (all keys, or the listed items). */
export function volumeFiles(
    v: VolumeJson,
    configMaps: Readonly<Record<string, Readonly<Record<string, string>>>>,
    secrets: Readonly<Record<string, Readonly<Record<string, string>>>>,
): Record<string, string> {
    const source = v.configMap
        ? { kind: "ConfigMap", name: v.configMap.name, data: configMaps[v.configMap.name], items: v.configMap.items }
        : v.secret
          ? { kind: "Secret", name: v.secret.secretName, data: secrets[v.secret.secretName], items: v.secret.items }
          : undefined;
    if (!source) return {};
    if (!source.data) throw new PodTemplateError(`volume ${v.name}: ${source.kind} ${source.name} is not known to the local runtime`);
    const items = source.items ?? Object.keys(source.data).map((key) => ({ key, path: key }));
    const files: Record<string, string> = {};
    for (const item of items) {
        const content = source.data[item.key];
        if (content === undefined) throw new PodTemplateError(`volume ${v.name}: ${source.kind} ${source.name} has no key ${item.key}`);
        if (item.path.split("/").includes("..")) throw new PodTemplateError(`volume ${v.name}: item path ${item.path} leaves the volume`);
        files[item.path] = content;
    }
    return files;
}
