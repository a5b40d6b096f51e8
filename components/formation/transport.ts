/**
 * How a Redis command reaches a node. One interface, two implementations:
 *  - direct (here): ioredis to the node's address (local clusters, tests, benchmarks);
 *  - kubernetes (kubernetesTransport.ts): `redis-cli` exec'd inside the pod through the
 *    Kubernetes API, so it works from a laptop or a Pulumi Deployments runner without
 *    ClusterIP access, and the password never leaves the pod.
 * The formation engine only sees `Transport`.
 */
import { FORMATION_DEFAULTS } from "./defaults";

/** Stand for the transport's own user and password inside a command (MIGRATE … AUTH2 <user> <password>); each transport fills them in its own way. */
export const USER_ARG = "\u0000redis-user\u0000";
export const PASSWORD_ARG = "\u0000redis-password\u0000";
/** Stands for the replication user's password (CONFIG SET masterauth during a rotation): the pod's own copy over exec. */
export const REPLICATION_PASSWORD_ARG = "\u0000redis-replication-password\u0000";

/**
 * How a client authenticates to a node and checks it: the one source of the direct transport's
 * connection options (and of tests' and tools' ioredis clients, through ioredisAccessOptions).
 */
export interface NodeAccess {
    /** The ACL user; absent: `default` (a bare node with requirepass). */
    readonly username?: string;
    readonly password: string;
    /** The replication user's password, for a rotation's CONFIG SET masterauth (REPLICATION_PASSWORD_ARG). */
    readonly replicationPassword?: string;
    /** TLS, with the CA (PEM) the node's certificate must chain to; the name dialled is the name verified. Absent: plain TCP. */
    readonly tls?: { readonly ca: string };
}

/** ioredis' options for `access`. */
export function ioredisAccessOptions(access: NodeAccess): { username?: string; password: string; tls?: { ca: string } } {
    return {
        ...(access.username ? { username: access.username } : {}),
        password: access.password,
        ...(access.tls ? { tls: { ca: access.tls.ca } } : {}),
    };
}

/** A node as the transport reaches it. */
export interface NodeTarget {
    /** host:port as Redis announces it (what CLUSTER NODES and MEET use). */
    readonly address: string;
    /** What the transport dials: the address itself (direct) or the pod name (kubernetes). */
    readonly target: string;
}

export interface Transport {
    /**
     * Runs one command; resolves with the reply as text in redis-cli's raw form
     * (strings as is, integers in decimal, nil as "", arrays one element a line).
     * Rejects with the server's message on an error reply.
     */
    call(target: string, args: readonly string[]): Promise<string>;
    /**
     * Runs several commands on one node, in order, ignoring their replies; rejects on the
     * first error. Over Kubernetes this is one exec instead of one per command (a full
     * MEET mesh of N pods would otherwise cost N² API round trips).
     */
    callEach(target: string, commands: readonly (readonly string[])[]): Promise<void>;
    /**
     * Optional: moves slots with their keys in one step, run next to the cluster. Over
     * Kubernetes this is `redis-cli --cluster reshard` exec'd in a pod: one exec for a whole
     * move instead of one or more per slot. Without it the engine moves slot by slot.
     */
    reshard?(target: string, move: Reshard): Promise<void>;
    /** Releases connections. */
    close(): Promise<void>;
}

/** One donor-to-receiver move for Transport.reshard. */
export interface Reshard {
    /** host:port of a cluster node for redis-cli to start from (reachable from where it runs). */
    readonly entry: string;
    readonly fromId: string;
    readonly toId: string;
    readonly slots: number;
}

/** Flattens any RESP reply into redis-cli's raw text form. */
export function replyToText(reply: unknown): string {
    if (reply === null || reply === undefined) return "";
    if (Array.isArray(reply)) return reply.map(replyToText).join("\n");
    if (Buffer.isBuffer(reply)) return reply.toString("utf8");
    return String(reply);
}

/** ioredis straight to each node; connections are opened lazily and reused. */
export class DirectTransport implements Transport {
    private readonly clients = new Map<string, import("ioredis").Redis>();
    private closed = false;

    private readonly access: NodeAccess;

    /** `access`: a password alone connects without TLS. */
    constructor(
        access: NodeAccess | string,
        private readonly commandTimeoutMs: number = FORMATION_DEFAULTS.directCommandTimeoutMs,
    ) {
        this.access = typeof access === "string" ? { password: access } : access;
    }

    private client(target: string): import("ioredis").Redis {
        // A closed transport stays closed: a late call must not reconnect (a new node may have the address now).
        if (this.closed) throw new Error(`transport closed: ${target} was not called`);
        let c = this.clients.get(target);
        // A client that gave up reconnecting (its node restarted) stays closed: a later call dials anew.
        if (c?.status === "end") {
            this.clients.delete(target);
            c = undefined;
        }
        if (!c) {
            const { Redis } = require("ioredis") as typeof import("ioredis");
            const [host, port] = splitAddress(target);
            c = new Redis({
                host,
                port,
                ...ioredisAccessOptions(this.access),
                lazyConnect: false,
                enableAutoPipelining: true,
                maxRetriesPerRequest: 1,
                commandTimeout: this.commandTimeoutMs,
                // Formation asks its questions again itself; a dead node should fail fast, not queue.
                retryStrategy: (times) =>
                    times > FORMATION_DEFAULTS.directReconnectAttempts ? null : FORMATION_DEFAULTS.directReconnectStepMs * times,
            });
            // Errors surface on the command promises; avoid unhandled 'error' events.
            c.on("error", () => undefined);
            this.clients.set(target, c);
        }
        return c;
    }

    async call(target: string, args: readonly string[]): Promise<string> {
        const [command, ...rest] = args.map((a) => this.fill(a));
        const reply = await this.client(target).call(command, ...rest);
        return replyToText(reply);
    }

    /** The placeholders' values: this transport's own credentials. */
    private fill(arg: string): string {
        if (arg === PASSWORD_ARG) return this.access.password;
        if (arg === USER_ARG) return this.access.username ?? "default";
        if (arg !== REPLICATION_PASSWORD_ARG) return arg;
        if (this.access.replicationPassword === undefined) throw new Error("this transport was given no replication password");
        return this.access.replicationPassword;
    }

    async callEach(target: string, commands: readonly (readonly string[])[]): Promise<void> {
        await Promise.all(commands.map((c) => this.call(target, c)));
    }

    async close(): Promise<void> {
        this.closed = true;
        const all = [...this.clients.values()];
        this.clients.clear();
        await Promise.all(all.map((c) => c.quit().catch(() => c.disconnect())));
    }
}

export function splitAddress(address: string): [string, number] {
    const i = address.lastIndexOf(":");
    const port = Number(address.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
        throw new Error(`address: expected host:port, got "${address}"`);
    }
    return [address.slice(0, i), port];
}
