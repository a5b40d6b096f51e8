/**
 * A stand-in for the Kubernetes API server that is just enough for the formation provider:
 * it lists pods and nodes, and serves `pods/<name>/exec` over WebSocket with the channel
 * protocol @kubernetes/client-node speaks (binary frames: 1 stdout, 2 stderr, 3 the final
 * Status as JSON). The exec'd command really runs, as a local process with the pod's env,
 * so the in-pod script, redis-cli and Redis are all real.
 *
 * Inside a pod, 127.0.0.1 is the pod's own Redis. Here every "pod" is a redis-server on its
 * own loopback address, so a `redis-cli` shim first on PATH turns `-h 127.0.0.1` (and
 * `127.0.0.1:<port>`, as `--cluster` commands take it) into the pod's address: the one stand-in for
 * the pod's network namespace. Its mount namespace is played as the local runtime plays it
 * (local/podTemplate.ts mapMountedPath): an argument or env value under a mount path becomes the
 * local directory; every pod has the ConfigMap's scripts at /scripts (this repository's components/redis).
 *
 * Given RBAC rules, it authorizes every request the way an API server does for a user bound to
 * a Role in its namespace and a ClusterRole: anything the rules do not grant is refused with 403
 * Forbidden (and recorded in `denied`). An exec is a WebSocket GET, authorized as `get` and, as
 * from Kubernetes 1.35, also as `create` on pods/exec.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { WebSocket, WebSocketServer } from "ws";
import { SCRIPTS_MOUNT } from "../../components/redis/paths";
import { mapMountedPath } from "../../local/podTemplate";

export interface FakePod {
    readonly name: string;
    /** The pod IP: the loopback address its redis-server listens on. */
    readonly ip: string;
    readonly nodeName: string;
    readonly ready: boolean;
    /** The container's env (REDIS_PASSWORD). */
    readonly env: Readonly<Record<string, string>>;
    /** Mounts besides /scripts, e.g. the TLS Secret's directory at /tls. */
    readonly mounts?: readonly Mount[];
}

interface Mount {
    readonly mountPath: string;
    readonly local: string;
}

/** The scripts volume of every Redis pod: the files the ConfigMap ships. */
const SCRIPTS: Mount = { mountPath: SCRIPTS_MOUNT, local: path.resolve(__dirname, "../../components/redis") };

export interface FakeNode {
    readonly name: string;
    readonly zone?: string;
}

/** An RBAC rule as in a Role or ClusterRole (rbac.authorization.k8s.io/v1 PolicyRule). */
export interface RbacRule {
    readonly apiGroups?: readonly string[];
    readonly resources?: readonly string[];
    readonly resourceNames?: readonly string[];
    readonly verbs: readonly string[];
}

/** What a request's user may do: a Role bound in the server's namespace and a ClusterRole bound cluster-wide. */
export interface RbacRules {
    readonly namespaced: readonly RbacRule[];
    readonly clusterWide: readonly RbacRule[];
}

/** The attributes an API server authorizes a request by. */
export interface RequestAttributes {
    readonly verb: string;
    /** `pods`, or `pods/exec` for a subresource. */
    readonly resource: string;
    readonly namespace?: string;
    readonly name?: string;
}

const VERB_OF_METHOD: Readonly<Record<string, string>> = { POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete" };

/** Request attributes of a core-group (/api/v1) path; the WebSocket exec GET counts as both `get` and `create`. */
export function requestAttributes(method: string, rawUrl: string): RequestAttributes[] {
    const url = new URL(rawUrl, "http://api");
    // A subresource may be followed by a path: services/<name>/proxy/<path>.
    const m = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?([^/]+)(?:\/([^/]+)(?:\/([^/]+)(?:\/.*)?)?)?$/.exec(url.pathname);
    if (!m) return [{ verb: method.toLowerCase(), resource: url.pathname }];
    const [, namespace, plural, name, sub] = m;
    const resource = sub ? `${plural}/${sub}` : plural;
    if (method === "GET" && sub === "exec") return ["get", "create"].map((verb) => ({ verb, resource, namespace, name }));
    const verb =
        method === "GET"
            ? name
                ? "get"
                : url.searchParams.get("watch") === "true"
                  ? "watch"
                  : "list"
            : method === "DELETE" && !name
              ? "deletecollection"
              : (VERB_OF_METHOD[method] ?? method.toLowerCase());
    return [{ verb, resource, namespace, name }];
}

function ruleAllows(rule: RbacRule, a: RequestAttributes): boolean {
    const any = (list: readonly string[] | undefined, value: string) => (list ?? []).some((x) => x === "*" || x === value);
    if (!any(rule.apiGroups, "")) return false;
    if (!any(rule.resources, a.resource)) return false;
    if (!any(rule.verbs, a.verb)) return false;
    return (
        rule.resourceNames === undefined || rule.resourceNames.length === 0 || (a.name !== undefined && rule.resourceNames.includes(a.name))
    );
}

/** Whether the rules grant every attribute set of a request (RBAC only adds; nothing is denied explicitly). */
export function rbacAllows(rules: RbacRules, attributes: readonly RequestAttributes[], serverNamespace: string): boolean {
    return attributes.every(
        (a) =>
            rules.clusterWide.some((r) => ruleAllows(r, a)) ||
            (a.namespace === serverNamespace && rules.namespaced.some((r) => ruleAllows(r, a))),
    );
}

export interface RecordedExec {
    readonly pod: string;
    readonly container: string;
    readonly command: readonly string[];
    readonly url: string;
}

const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;

function writeRedisCliShim(dir: string): void {
    const real = spawnSync("sh", ["-c", "command -v redis-cli"], { encoding: "utf8" }).stdout.trim();
    if (!real) throw new Error("redis-cli was not found on PATH (apt-get install -y redis-tools)");
    const shim = [
        "#!/bin/sh",
        "# -h 127.0.0.1 and 127.0.0.1:<port> (--cluster's form), the pod's own Redis, become the pod's address;",
        "# everything else passes through.",
        "n=$#; i=0; prev=",
        'while [ "$i" -lt "$n" ]; do',
        "  a=$1; shift",
        '  if [ "$prev" = "-h" ] && [ "$a" = "127.0.0.1" ]; then a=$POD_ADDRESS; fi',
        "  case $a in 127.0.0.1:[0-9]*) a=$POD_ADDRESS:${a#127.0.0.1:} ;; esac",
        '  set -- "$@" "$a"; prev=$a; i=$((i + 1))',
        "done",
        `exec ${real} "$@"`,
    ].join("\n");
    fs.writeFileSync(path.join(dir, "redis-cli"), shim + "\n", { mode: 0o755 });
}

/**
 * A kubeconfig for an API server on 127.0.0.1:`port` (plain HTTP, a bearer token). @kubernetes/client-node
 * 2.x refuses a plain-HTTP server unless the cluster entry skips TLS verification, which is the only
 * reason the flag is set: a real API server speaks HTTPS with the CA its kubeconfig carries.
 */
export function fakeKubeconfig(port: number): string {
    return [
        "apiVersion: v1",
        "kind: Config",
        `clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]`,
        "contexts: [{name: fake, context: {cluster: fake, user: fake}}]",
        "current-context: fake",
        "users: [{name: fake, user: {token: fake-token}}]",
    ].join("\n");
}

export class FakeKubeApi {
    readonly execs: RecordedExec[] = [];
    /**
     * What the Service proxy (`services/[http:]<name>[:<port>]/proxy/<path>`) reaches: `<name>:<port>`
     * (the port's name or number, as the path gives it) -> the base URL of the backend, `http://host:port`.
     */
    readonly services = new Map<string, string>();
    readonly requests: string[] = [];
    /** Requests refused by the RBAC rules, `METHOD url`. */
    readonly denied: string[] = [];
    private readonly shimDir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-kube-shim-"));
    private readonly sockets = new WebSocketServer({
        noServer: true,
        handleProtocols: (offered) => (offered.has("v4.channel.k8s.io") ? "v4.channel.k8s.io" : false),
    });
    private readonly server: http.Server;

    private constructor(
        private readonly namespace: string,
        public pods: FakePod[],
        private readonly nodes: readonly FakeNode[],
        /** Enforced when given; without it every request is allowed. Set it to act as another user. */
        public rbac?: RbacRules,
    ) {
        writeRedisCliShim(this.shimDir);
        this.server = http.createServer((req, res) => {
            if (this.authorized(req)) this.serve(req, res);
            else this.forbid(req, res);
        });
        this.server.on("upgrade", (req: http.IncomingMessage, socket, head) => {
            if (!this.authorized(req)) {
                const body = JSON.stringify(this.forbiddenStatus(req));
                socket.end(
                    `HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
                );
                return;
            }
            const exec = this.parseExec(req.url ?? "");
            if (!exec) {
                socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
                return;
            }
            this.sockets.handleUpgrade(req, socket, head, (ws) => this.runExec(ws, exec));
        });
    }

    static async start(namespace: string, pods: FakePod[], nodes: readonly FakeNode[], rbac?: RbacRules): Promise<FakeKubeApi> {
        const api = new FakeKubeApi(namespace, pods, nodes, rbac);
        await new Promise<void>((resolve) => api.server.listen(0, "127.0.0.1", resolve));
        return api;
    }

    /** A kubeconfig for this server. */
    kubeconfig(): string {
        return fakeKubeconfig((this.server.address() as AddressInfo).port);
    }

    async close(): Promise<void> {
        for (const ws of this.sockets.clients) ws.terminate();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
        fs.rmSync(this.shimDir, { recursive: true, force: true });
    }

    private authorized(req: http.IncomingMessage): boolean {
        if (!this.rbac) return true;
        const allowed = rbacAllows(this.rbac, requestAttributes(req.method ?? "GET", req.url ?? "/"), this.namespace);
        if (!allowed) this.denied.push(`${req.method} ${req.url}`);
        return allowed;
    }

    /** The Status an API server sends for a request RBAC refuses. */
    private forbiddenStatus(req: http.IncomingMessage): object {
        const refused = requestAttributes(req.method ?? "GET", req.url ?? "/").find((a) => !rbacAllows(this.rbac!, [a], this.namespace))!;
        const where = refused.namespace ? ` in the namespace "${refused.namespace}"` : " at the cluster scope";
        return {
            kind: "Status",
            apiVersion: "v1",
            metadata: {},
            status: "Failure",
            message: `${refused.resource}${refused.name ? ` "${refused.name}"` : ""} is forbidden: User "system:serviceaccount:${this.namespace}:formation" cannot ${refused.verb} resource "${refused.resource}"${where}`,
            reason: "Forbidden",
            code: 403,
        };
    }

    private forbid(req: http.IncomingMessage, res: http.ServerResponse): void {
        this.requests.push(`${req.method} ${req.url}`);
        res.statusCode = 403;
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(this.forbiddenStatus(req)));
    }

    private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
        this.requests.push(`${req.method} ${req.url}`);
        res.setHeader("content-type", "application/json");
        const url = new URL(req.url ?? "/", "http://api");
        if (req.method === "GET" && url.pathname === `/api/v1/namespaces/${this.namespace}/pods`) {
            const items = this.pods.map((p) => ({
                metadata: { name: p.name, namespace: this.namespace },
                spec: { nodeName: p.nodeName },
                status: { podIP: p.ip, conditions: [{ type: "Ready", status: p.ready ? "True" : "False" }] },
            }));
            res.end(JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata: {}, items }));
        } else if (req.method === "GET" && url.pathname === "/api/v1/nodes") {
            const items = this.nodes.map((n) => ({
                metadata: { name: n.name, labels: n.zone ? { "topology.kubernetes.io/zone": n.zone } : {} },
            }));
            res.end(JSON.stringify({ kind: "NodeList", apiVersion: "v1", metadata: {}, items }));
        } else if (req.method === "GET" && this.serviceProxy(req, res, url)) {
            return;
        } else {
            res.statusCode = 404;
            res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 }));
        }
    }

    /** Forwards a Service proxy GET to the backend registered in `services`, as the API server does; false if it names none. */
    private serviceProxy(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
        const m = new RegExp(`^/api/v1/namespaces/${this.namespace}/services/(?:http:)?([^/:]+):([^/]+)/proxy(/.*)?$`).exec(url.pathname);
        const backend = m && this.services.get(`${m[1]}:${m[2]}`);
        if (!m || !backend) return false;
        const forwarded = http.get(
            `${backend}${m[3] ?? "/"}${url.search}`,
            { headers: { accept: req.headers.accept ?? "*/*" } },
            (answer) => {
                res.writeHead(answer.statusCode ?? 502, { "content-type": answer.headers["content-type"] ?? "text/plain" });
                answer.pipe(res);
            },
        );
        forwarded.on("error", (e) => {
            res.statusCode = 503;
            res.end(
                JSON.stringify({
                    kind: "Status",
                    apiVersion: "v1",
                    status: "Failure",
                    message: `error trying to reach service: ${e.message}`,
                    code: 503,
                }),
            );
        });
        return true;
    }

    private parseExec(rawUrl: string): RecordedExec | undefined {
        const url = new URL(rawUrl, "http://api");
        const match = new RegExp(`^/api/v1/namespaces/${this.namespace}/pods/([^/]+)/exec$`).exec(url.pathname);
        if (!match) return undefined;
        const exec = {
            pod: match[1],
            container: url.searchParams.get("container") ?? "",
            command: url.searchParams.getAll("command"),
            url: rawUrl,
        };
        this.execs.push(exec);
        return exec;
    }

    private runExec(ws: WebSocket, exec: RecordedExec): void {
        const frame = (channel: number, data: Buffer | string) =>
            ws.send(Buffer.concat([Buffer.from([channel]), Buffer.isBuffer(data) ? data : Buffer.from(data)]));
        const finish = (status: object) => {
            frame(STATUS, JSON.stringify({ metadata: {}, ...status }));
            ws.close(1000);
        };
        const pod = this.pods.find((p) => p.name === exec.pod);
        if (!pod) {
            finish({ status: "Failure", message: `pods "${exec.pod}" not found`, reason: "NotFound", code: 404 });
            return;
        }
        const mounts = [SCRIPTS, ...(pod.mounts ?? [])];
        const local = (s: string) => mapMountedPath(s, mounts);
        const env = Object.fromEntries(Object.entries(pod.env).map(([k, v]) => [k, local(v)]));
        const child = spawn(local(exec.command[0]), exec.command.slice(1).map(local), {
            env: { ...env, PATH: `${this.shimDir}:${process.env.PATH ?? "/usr/bin:/bin"}`, POD_ADDRESS: pod.ip },
            stdio: ["ignore", "pipe", "pipe"],
        });
        child.stdout.on("data", (d: Buffer) => frame(STDOUT, d));
        child.stderr.on("data", (d: Buffer) => frame(STDERR, d));
        child.on("error", (e) => finish({ status: "Failure", message: `exec failed: ${e.message}` }));
        child.on("close", (code) => {
            if (code === 0) {
                finish({ status: "Success" });
            } else {
                finish({
                    status: "Failure",
                    message: `command terminated with non-zero exit code: error executing command [${exec.command.join(" ")}], exit code ${code}`,
                    reason: "NonZeroExitCode",
                    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
                });
            }
        });
    }
}
