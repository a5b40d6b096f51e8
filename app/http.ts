/**
 * HTTP plumbing of the hit counter: listeners with bounded connections, requests per connection and
 * timeouts, and small, generic replies. Plain `http` (no framework): one route, and every
 * microsecond counts in the benchmark.
 */
import * as http from "http";
import { AddressInfo, Socket } from "net";
import { ServerLimits } from "./config";

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json";

/**
 * How often Node looks for connections past their headers or request timeout. Node's default is
 * 30 s, which would let a slow client hold its connection up to 30 s past a 10 s timeout.
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

export function wantsJson(req: http.IncomingMessage): boolean {
    const accept = req.headers.accept;
    return accept !== undefined && accept.includes(JSON_TYPE);
}

export function reply(
    res: http.ServerResponse,
    code: number,
    json: boolean,
    body: Record<string, unknown>,
    text: string,
    extra?: http.OutgoingHttpHeaders,
): void {
    const payload = json ? JSON.stringify(body) + "\n" : text;
    res.writeHead(code, { "content-type": json ? JSON_TYPE : TEXT, "content-length": Buffer.byteLength(payload), ...extra });
    res.end(payload);
}

/** The limits of one listener (requests per connection are counted by the request handler). */
export type ListenerLimits = Pick<ServerLimits, "maxConnections" | "headersTimeoutMs" | "requestReceiveTimeoutMs" | "keepAliveTimeoutMs">;

/** An HTTP server with bounded connections and timeouts. */
export function boundedServer(limits: ListenerLimits, handler: http.RequestListener): http.Server {
    const server = http.createServer(
        {
            headersTimeout: limits.headersTimeoutMs,
            requestTimeout: limits.requestReceiveTimeoutMs,
            keepAliveTimeout: limits.keepAliveTimeoutMs,
            connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
        },
        handler,
    );
    // Over the cap, Node closes a new connection as soon as it is accepted ('drop' event).
    server.maxConnections = limits.maxConnections;
    return server;
}

/**
 * The per-connection request limits, as a check at the top of the request handler: false for a request
 * the app does not serve. Past MAX_PIPELINED_REQUESTS unanswered ones, the connection is closed at
 * once. Past MAX_REQUESTS_PER_SOCKET, the request is dropped: the last allowed one is answered with
 * `Connection: close` and the connection ends after it, so a client that ignores the header reconnects
 * (Node's own maxRequestsPerSocket kept such a connection open until the keep-alive timeout, answering
 * every further request 503). A dropped request stays unanswered until then, so it counts toward the
 * pipelining bound too.
 */
export function perConnectionLimits(
    limits: Pick<ServerLimits, "maxRequestsPerSocket" | "maxPipelinedRequests">,
    on: { requestDropped(): void; connectionClosed(): void },
): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
    // Requests received per connection, and those unanswered (until written out or the connection closes).
    const received = new WeakMap<Socket, number>();
    const unanswered = new WeakMap<Socket, number>();
    return (req, res) => {
        const socket = req.socket;
        // Parsed from the same read as the request that closed the connection: dropped with the rest.
        if (socket.destroyed) return false;
        const depth = (unanswered.get(socket) ?? 0) + 1;
        if (depth > limits.maxPipelinedRequests) {
            on.connectionClosed();
            socket.destroy();
            return false;
        }
        unanswered.set(socket, depth);
        res.once("close", () => unanswered.set(socket, (unanswered.get(socket) ?? 1) - 1));
        const count = (received.get(socket) ?? 0) + 1;
        received.set(socket, count);
        if (count > limits.maxRequestsPerSocket) {
            on.requestDropped();
            return false;
        }
        if (count === limits.maxRequestsPerSocket) res.setHeader("connection", "close");
        return true;
    };
}

/** Listens on host:port; resolves with the port bound (port 0 = any free port). */
export function listen(server: http.Server, port: number, host: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
            server.off("error", reject);
            resolve((server.address() as AddressInfo).port);
        });
    });
}

/** http://host:port for a listener (127.0.0.1 when bound to all addresses). */
export function urlOf(host: string, port: number): string {
    const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
    return `http://${urlHost}:${port}`;
}
