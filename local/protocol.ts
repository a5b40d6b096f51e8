/**
 * How the verbs talk to a DIR's supervisor: one JSON request and one JSON answer per connection,
 * over the Unix socket DIR/supervisor.sock (DIR is 0700: only its owner can connect).
 */
import * as fs from "fs";
import * as net from "net";
import { Layout } from "./layout";
import { PodStatus, RestartRecord } from "./pod";

export type Request =
    | { readonly verb: "status" }
    | { readonly verb: "kill"; readonly pod: string; readonly container?: string }
    | { readonly verb: "delete"; readonly pod: string }
    | { readonly verb: "freeze"; readonly pod: string }
    | { readonly verb: "thaw"; readonly pod: string }
    | { readonly verb: "roll" }
    /** The StatefulSet's replicas: pods beyond them are removed (their claims kept), missing ones started. */
    | { readonly verb: "scale"; readonly replicas: number }
    | { readonly verb: "start-app" }
    | { readonly verb: "sync-secrets" }
    | { readonly verb: "restarts"; readonly pod: string }
    | { readonly verb: "stop" };

/** A pod as `status` reports it: the kubelet's view plus what Redis says about the node. */
export interface PodView extends PodStatus {
    readonly role?: "master" | "replica";
    /** For a replica: the pod (or, if unknown, the address) of its master. */
    readonly master?: string;
    readonly clusterState?: string;
    /** Why Redis could not be asked (frozen, not running, no answer). */
    readonly redisError?: string;
    /** The surge pod (the ConfigMap's surge-pod): no cluster member at rest, so left out of `clusterState`. */
    readonly surge?: boolean;
}

export interface AppView {
    readonly url: string;
    readonly ready: boolean;
    readonly restarts: number;
    readonly phase: PodStatus["phase"];
}

export interface StatusView {
    readonly dir: string;
    readonly supervisorPid: number;
    readonly pods: readonly PodView[];
    /** "ok" when every pod that answered says ok, else the first other state (or "unknown"); the surge pod's own state is left out. */
    readonly clusterState: string;
    readonly app?: AppView;
}

export interface KillResult {
    /** When the SIGKILL was sent (epoch ms). */
    readonly at: number;
    readonly pod: string;
    readonly container: string;
    readonly address: string;
    readonly pid: number;
    /** When the kubelet restarts it: 0 = at once. */
    readonly restartInMs: number;
    readonly restarts: number;
}

export interface DeleteResult {
    /** When the deletion began (epoch ms). */
    readonly at: number;
    readonly pod: string;
    readonly oldAddress: string;
    readonly newAddress: string;
    /** ms from the request to the old pod's end, and to the new pod's first container. */
    readonly terminatedAfterMs: number;
    readonly recreatedAfterMs: number;
}

/** freeze and thaw. */
export interface FreezeResult {
    /** When the signal was sent (epoch ms). */
    readonly at: number;
    readonly pod: string;
    readonly address: string;
}

/** What `scale` changed: the pods removed and started, each with its address. */
export interface ScaleResult {
    readonly removed: readonly { readonly pod: string; readonly address: string }[];
    readonly added: readonly { readonly pod: string; readonly address: string }[];
}

export interface RollResult {
    readonly steps: readonly (DeleteResult & { readonly readyAfterMs: number })[];
}

export type Response = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: string };

/** No supervisor answers for DIR: nothing runs there (or it died; `down` still stops what it left). */
export class NoSupervisorError extends Error {}

/** Sends one request to DIR's supervisor and returns its result; a refused request throws its message. */
export function call<T>(layout: Layout, request: Request, timeoutMs = 600_000): Promise<T> {
    return new Promise((resolve, reject) => {
        if (!fs.existsSync(layout.socket)) {
            reject(noSupervisor(layout));
            return;
        }
        const socket = net.connect(layout.socket);
        let answer = "";
        const timer = setTimeout(
            () => socket.destroy(new Error(`${request.verb}: the supervisor did not answer within ${timeoutMs} ms`)),
            timeoutMs,
        );
        socket.setEncoding("utf8");
        socket.on("connect", () => socket.write(JSON.stringify(request) + "\n"));
        socket.on("data", (d: string) => (answer += d));
        socket.on("error", (e: NodeJS.ErrnoException) => {
            clearTimeout(timer);
            reject(e.code === "ECONNREFUSED" || e.code === "ENOENT" ? noSupervisor(layout) : e);
        });
        socket.on("end", () => {
            clearTimeout(timer);
            if (!answer.trim()) return reject(new Error(`${request.verb}: the supervisor closed the connection without an answer`));
            const r = JSON.parse(answer) as Response;
            if (r.ok) resolve(r.result as T);
            else reject(new Error(r.error));
        });
    });
}

function noSupervisor(layout: Layout): NoSupervisorError {
    return new NoSupervisorError(
        `no supervisor is running for ${layout.dir} (start the cluster with \`npm run local -- up --dir ${layout.dir}\`)`,
    );
}

/** Serves requests on DIR's socket with `handle`; every error becomes a refusal with its message. */
export function serve(layout: Layout, handle: (r: Request) => Promise<unknown>): Promise<net.Server> {
    if (Buffer.byteLength(layout.socket) > 107) {
        throw new Error(
            `--dir: ${layout.dir} is too long for a Unix socket path (${layout.socket} is over 107 bytes); use a shorter directory`,
        );
    }
    fs.rmSync(layout.socket, { force: true }); // a dead supervisor's; the lock says none runs
    const server = net.createServer((socket) => {
        let text = "";
        socket.setEncoding("utf8");
        socket.on("error", () => undefined);
        socket.on("data", (d: string) => {
            text += d;
            const nl = text.indexOf("\n");
            if (nl < 0) return;
            let request: Request;
            try {
                request = JSON.parse(text.slice(0, nl)) as Request;
            } catch {
                socket.end(JSON.stringify({ ok: false, error: "malformed request" }) + "\n");
                return;
            }
            handle(request).then(
                (result) => socket.end(JSON.stringify({ ok: true, result: result ?? null }) + "\n"),
                (e: Error) => socket.end(JSON.stringify({ ok: false, error: e.message }) + "\n"),
            );
        });
    });
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(layout.socket, () => {
            fs.chmodSync(layout.socket, 0o600);
            resolve(server);
        });
    });
}

export type { RestartRecord };
