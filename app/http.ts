/**
 * HTTP plumbing of the hit counter: listeners with bounded connections and timeouts, and small,
 * generic replies. Plain `http` (no framework): one route, and every
 * microsecond counts in the benchmark.
 */
import * as http from "http";
import { AddressInfo } from "net";
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
