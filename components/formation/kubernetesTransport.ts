/**
 * The Kubernetes transport: `redis-cli` exec'd inside each pod through the Kubernetes API
 * (@kubernetes/client-node), as the admin user with its password from the pod's own users Secret,
 * so it works from a laptop or a Pulumi Deployments runner without ClusterIP access and the
 * password never crosses the API. Also lists the StatefulSet's pods with their k8s node and zone.
 */
import type { Writable } from "stream";
import { REDIS_CLI_HELPER } from "../redis/paths";
import { CLIENT_PORT } from "../shape";
import { FORMATION_DEFAULTS } from "./defaults";
import { PASSWORD_ARG, REPLICATION_PASSWORD_ARG, Reshard, Transport, USER_ARG } from "./transport";

/**
 * The command exec'd in the pod for `args`: `sh -c` sources the pod's redis-cli helper
 * (components/redis/rediscli.sh, passed as `$0`), whose `rcli` connects the way every in-pod
 * script does: to the pod's own Redis, with TLS when the pod has its certificates, with the
 * admin password from the pod's own users Secret. Every argument travels as a positional parameter
 * (no quoting issues); USER_ARG, PASSWORD_ARG and REPLICATION_PASSWORD_ARG become the pod's own
 * values, expanded in the pod. `-e` makes
 * redis-cli exit non-zero on an error reply.
 */
export function buildExecCommand(args: readonly string[], port = CLIENT_PORT): string[] {
    return buildExecScript([args], port);
}

/**
 * One exec for several commands: one redis-cli run per command, each reading its own
 * positional parameters, stopping at the first failure (`set -e`).
 */
export function buildExecScript(commands: readonly (readonly string[])[], port = CLIENT_PORT): string[] {
    if (commands.length === 0) throw new Error("commands: at least one command is needed");
    const positional: string[] = [];
    const lines = commands.map((args) => {
        const words = args.map((a) => {
            if (a === PASSWORD_ARG) return '"$REDISCLI_AUTH"';
            if (a === USER_ARG) return '"${REDIS_CLI_USER:-default}"';
            if (a === REPLICATION_PASSWORD_ARG) return '"$(cat "$REDIS_USERS_DIR/replication")"';
            positional.push(a);
            return `"\${${positional.length}}"`;
        });
        return words.join(" ");
    });
    // The last command's exit status is the exec's; `set -e` stops at the first failure.
    const body = lines.map((l) => `rcli -e ${l}`).join("; ");
    return ["sh", "-c", `. "$0"; PROBE_CLIENT_PORT=${port}; set -e; ${body}`, REDIS_CLI_HELPER, ...positional];
}

/** Where an exec goes: the parts of its request path. */
export interface ExecTarget {
    readonly namespace: string;
    readonly pod: string;
    readonly container: string;
}

/** Length of the request target @kubernetes/client-node (exec.js) builds for an exec of `command` in `target`. */
export function execUrlLength(command: readonly string[], target: ExecTarget): number {
    const querystring = require("querystring") as typeof import("querystring");
    const query = querystring.stringify({
        stdout: true,
        stderr: true,
        stdin: false,
        tty: false,
        command: [...command],
        container: target.container,
    });
    return `/api/v1/namespaces/${target.namespace}/pods/${target.pod}/exec?`.length + query.length;
}

/**
 * Splits commands into consecutive groups whose exec request target in `target` fits in
 * `maxChars`, keeping their order. A single command too long on its own is refused with its length.
 */
export function execBatches(
    commands: readonly (readonly string[])[],
    target: ExecTarget,
    maxChars: number = FORMATION_DEFAULTS.maxExecUrlChars,
    port = CLIENT_PORT,
): (readonly string[])[][] {
    const batches: (readonly string[])[][] = [];
    let current: (readonly string[])[] = [];
    for (const command of commands) {
        const alone = execUrlLength(buildExecScript([command], port), target);
        if (alone > maxChars) {
            throw new Error(
                `command: ${command[0]} with ${command.length - 1} arguments needs ${alone} characters of exec URL in pod ${target.namespace}/${target.pod}; at most ${maxChars} fit`,
            );
        }
        if (current.length > 0 && execUrlLength(buildExecScript([...current, command], port), target) > maxChars) {
            batches.push(current);
            current = [];
        }
        current.push(command);
    }
    if (current.length > 0) batches.push(current);
    return batches;
}

/** The outcome of one exec: the reply text, or an Error carrying redis-cli's message. */
export function parseExecResult(status: { status?: string; message?: string } | undefined, stdout: string, stderr: string): string {
    if (status?.status === "Success") return stdout.replace(/\n$/, "");
    const detail = stderr.trim() || stdout.trim() || status?.message || "no output";
    throw new Error(detail);
}

/** A pod of the Redis StatefulSet with where it runs. */
export interface RedisPod {
    readonly name: string;
    readonly ip: string;
    readonly k8sNode?: string;
    readonly zone?: string;
    readonly ready: boolean;
}

type PodList = import("@kubernetes/client-node").V1PodList;
type NodeList = import("@kubernetes/client-node").V1NodeList;

export const ZONE_LABEL = "topology.kubernetes.io/zone";

/** Joins pods with their k8s nodes' zone labels; sorted by StatefulSet ordinal. */
export function podsWithPlacement(pods: PodList, nodes: NodeList): RedisPod[] {
    const zoneOf = new Map<string, string | undefined>();
    for (const n of nodes.items) if (n.metadata?.name) zoneOf.set(n.metadata.name, n.metadata.labels?.[ZONE_LABEL]);
    const ordinal = (name: string) => Number(/-(\d+)$/.exec(name)?.[1] ?? Number.MAX_SAFE_INTEGER);
    return pods.items
        .filter((p) => p.metadata?.name && !p.metadata.deletionTimestamp)
        .map((p) => {
            const k8sNode = p.spec?.nodeName;
            return {
                name: p.metadata!.name!,
                ip: p.status?.podIP ?? "",
                k8sNode,
                zone: k8sNode ? zoneOf.get(k8sNode) : undefined,
                ready: (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
            };
        })
        .sort((a, b) => ordinal(a.name) - ordinal(b.name) || a.name.localeCompare(b.name));
}

/** Collects a stream's chunks as text. */
function collector(): { stream: Writable; text: () => string } {
    const { Writable } = require("stream") as typeof import("stream");
    const chunks: Buffer[] = [];
    const stream = new Writable({
        write(chunk: Buffer | string, _enc, done) {
            chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
            done();
        },
    });
    return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

/** Where KubernetesTransport execs and how long it waits. */
export interface KubernetesTransportOptions {
    /** kubeconfig (YAML) of the cluster. */
    readonly kubeconfig: string;
    readonly namespace: string;
    /** Container with redis-cli and REDIS_PASSWORD in its env. */
    readonly container: string;
    /** The Redis client port inside the pod (default CLIENT_PORT). */
    readonly port?: number;
    /** Upper bound of one exec (default FORMATION_DEFAULTS.execTimeoutMs). */
    readonly execTimeoutMs?: number;
    /** Upper bound of one reshard exec (default FORMATION_DEFAULTS.reshardTimeoutMs). */
    readonly reshardTimeoutMs?: number;
}

/** redis-cli exec'd in pods of one namespace through the Kubernetes API. */
export class KubernetesTransport implements Transport {
    private readonly kc: import("@kubernetes/client-node").KubeConfig;
    private readonly namespace: string;
    private readonly container: string;
    private readonly port: number;
    private readonly execTimeoutMs: number;
    private readonly reshardTimeoutMs: number;

    constructor(o: KubernetesTransportOptions) {
        const k8s = require("@kubernetes/client-node") as typeof import("@kubernetes/client-node");
        this.kc = new k8s.KubeConfig();
        this.kc.loadFromString(o.kubeconfig);
        this.namespace = o.namespace;
        this.container = o.container;
        this.port = o.port ?? CLIENT_PORT;
        this.execTimeoutMs = o.execTimeoutMs ?? FORMATION_DEFAULTS.execTimeoutMs;
        this.reshardTimeoutMs = o.reshardTimeoutMs ?? FORMATION_DEFAULTS.reshardTimeoutMs;
    }

    call(pod: string, args: readonly string[]): Promise<string> {
        const command = buildExecCommand(args, this.port);
        const length = execUrlLength(command, this.target(pod));
        if (length > FORMATION_DEFAULTS.maxExecUrlChars) {
            return Promise.reject(
                new Error(
                    `${args[0]} in pod ${this.namespace}/${pod}: ${args.length - 1} arguments need ${length} characters of exec URL; at most ${FORMATION_DEFAULTS.maxExecUrlChars} fit`,
                ),
            );
        }
        return this.exec(pod, command, args[0]);
    }

    /** As few execs as the URL limit allows, one after another; stops at the first failure. */
    async callEach(pod: string, commands: readonly (readonly string[])[]): Promise<void> {
        for (const batch of execBatches(commands, this.target(pod), FORMATION_DEFAULTS.maxExecUrlChars, this.port))
            await this.exec(pod, buildExecScript(batch, this.port), `${batch.length} commands`);
    }

    private target(pod: string): ExecTarget {
        return { namespace: this.namespace, pod, container: this.container };
    }

    /** sha256 of the pod's own copy of `user`'s password (the mounted users Secret, which the kubelet updates in place). */
    async credentialDigest(pod: string, user: string): Promise<string> {
        const script = 'sha256sum < "$REDIS_USERS_DIR/$1" | cut -c1-64';
        return (await this.exec(pod, ["sh", "-c", script, "sh", user], `sha256 of the mounted ${user} password`)).trim();
    }

    /** `redis-cli --cluster reshard` in `pod`, without prompts; on failure, the end of its output. */
    async reshard(pod: string, move: Reshard): Promise<void> {
        const args = [
            "--cluster",
            "reshard",
            move.entry,
            "--cluster-from",
            move.fromId,
            "--cluster-to",
            move.toId,
            "--cluster-slots",
            String(move.slots),
            "--cluster-yes",
        ];
        try {
            await this.exec(pod, buildExecCommand(args, this.port), "redis-cli --cluster reshard", this.reshardTimeoutMs);
        } catch (e) {
            // Its progress log is long; the reason is at the end.
            const lines = (e as Error).message.split("\n");
            throw new Error(lines.length > 6 ? [lines[0], "…", ...lines.slice(-5)].join("\n") : (e as Error).message, { cause: e });
        }
    }

    private async exec(pod: string, command: string[], what: string, timeoutMs = this.execTimeoutMs): Promise<string> {
        const k8s = require("@kubernetes/client-node") as typeof import("@kubernetes/client-node");
        const out = collector();
        const err = collector();
        const exec = new k8s.Exec(this.kc);
        return new Promise<string>((resolve, reject) => {
            const timer = setTimeout(
                () => reject(new Error(`exec in pod ${this.namespace}/${pod} timed out after ${timeoutMs} ms: ${what}`)),
                timeoutMs,
            );
            exec.exec(this.namespace, pod, this.container, command, out.stream, err.stream, null, false, (status) => {
                clearTimeout(timer);
                try {
                    resolve(parseExecResult(status, out.text(), err.text()));
                } catch (e) {
                    reject(new Error(`${what} in pod ${this.namespace}/${pod}: ${(e as Error).message}`));
                }
            }).catch((e: unknown) => {
                clearTimeout(timer);
                reject(new Error(`exec in pod ${this.namespace}/${pod} failed: ${(e as Error).message}`));
            });
        });
    }

    /** Pods of the StatefulSet (by its pod-name prefix) with IP, k8s node and zone. */
    async listPods(statefulSetName: string, labelSelector?: string): Promise<RedisPod[]> {
        const k8s = require("@kubernetes/client-node") as typeof import("@kubernetes/client-node");
        const core = this.kc.makeApiClient(k8s.CoreV1Api);
        const pods = await core.listNamespacedPod({ namespace: this.namespace, labelSelector });
        const owned = {
            ...pods,
            items: pods.items.filter((p) => new RegExp(`^${escapeRegExp(statefulSetName)}-\\d+$`).test(p.metadata?.name ?? "")),
        };
        // Zones are optional: without permission to list nodes, placement falls back to k8s node names.
        let nodes: NodeList;
        try {
            nodes = await core.listNode();
        } catch {
            nodes = { items: [] };
        }
        return podsWithPlacement(owned, nodes);
    }

    /** Names of every pod of the StatefulSet, terminating ones included (a removed pod is gone once it is not listed). */
    async podNames(statefulSetName: string): Promise<string[]> {
        const k8s = require("@kubernetes/client-node") as typeof import("@kubernetes/client-node");
        const pods = await this.kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: this.namespace });
        const own = new RegExp(`^${escapeRegExp(statefulSetName)}-\\d+$`);
        return pods.items.map((p) => p.metadata?.name ?? "").filter((n) => own.test(n));
    }

    async close(): Promise<void> {
        // Each exec opens and closes its own web socket; nothing is pooled.
    }
}

function escapeRegExp(s: string): string {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
