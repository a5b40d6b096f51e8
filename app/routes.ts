/**
 * The hit counter's routes, one request handler per listener (see server.ts for the two listeners).
 * They are built from a RouteContext, what a route needs and nothing else, so they read apart from
 * the Redis client, the listeners' limits and the stop, which server.ts owns.
 */
import * as http from "http";
import { HitFailureReason, HitNotRecordedError, HitRecorder } from "./hits";
import { reply, wantsJson } from "./http";
import { ServerMetrics } from "./metrics";

export interface RouteContext {
    readonly metrics: ServerMetrics;
    readonly hits: Pick<HitRecorder, "record">;
    /** Why the cluster cannot take hits, or undefined when it can (cached: Redis sees one check a second at most). */
    readonly readinessProblem: () => Promise<string | undefined>;
    readonly log: (line: string) => void;
    /** `log` at most once a second per key: failovers produce bursts of identical errors. */
    readonly logLimited: (key: string, line: string) => void;
    /** True once a graceful stop has begun. */
    readonly shuttingDown: () => boolean;
}

const pathOf = (req: http.IncomingMessage) => (req.url === undefined ? "/" : req.url.split("?", 1)[0]);

/** `GET /`. Its two counters are bound once: this is the hot path. */
function hitRoute(ctx: RouteContext): http.RequestListener {
    const hitOk = ctx.metrics.requests.labels("/", "200");
    const hitUnavailable = ctx.metrics.requests.labels("/", "503");
    return (req, res) => {
        const json = wantsJson(req);
        ctx.hits.record().then(
            (count) => {
                hitOk.inc();
                reply(res, 200, json, { hits: count }, `I have been hit ${count} times since deployment.\n`);
            },
            (err: unknown) => {
                const reason: HitFailureReason | "internal" = err instanceof HitNotRecordedError ? err.reason : "internal";
                hitUnavailable.inc();
                ctx.metrics.error(reason);
                // The why is for operators (log, hitcounter_errors_total); the client learns only to retry.
                ctx.logLimited(`hit:${reason}`, `hit not recorded (${reason}): ${err instanceof Error ? err.message : String(err)}`);
                const retry = { "retry-after": "1" };
                reply(res, 503, json, { error: "hit not recorded; please retry" }, "Hit not recorded. Please retry.\n", retry);
            },
        );
    };
}

/** /readyz: the public answer is bare; the operators' one says why. */
async function readiness(ctx: RouteContext, req: http.IncomingMessage, res: http.ServerResponse, detailed: boolean): Promise<void> {
    const json = wantsJson(req);
    const problem = ctx.shuttingDown() ? "shutting down" : await ctx.readinessProblem();
    const code = problem ? 503 : 200;
    ctx.metrics.requests.inc({ route: "/readyz", code: String(code) });
    const shown = detailed ? problem : undefined;
    const body = problem ? { ready: false, ...(shown ? { reason: shown } : {}) } : { ready: true };
    reply(res, code, json, body, problem ? (shown ? `not ready: ${shown}\n` : "not ready\n") : "ready\n");
}

async function metricsPage(ctx: RouteContext, res: http.ServerResponse): Promise<void> {
    ctx.metrics.requests.inc({ route: "/metrics", code: "200" });
    const body = await ctx.metrics.registry.metrics();
    res.writeHead(200, { "content-type": ctx.metrics.registry.contentType });
    res.end(body);
}

/** Method check shared by both listeners: only `GET /` counts, so `/` takes GET only, the rest GET and HEAD. */
function methodAllowed(ctx: RouteContext, req: http.IncomingMessage, res: http.ServerResponse, path: string): boolean {
    if (req.method === "GET" || (req.method === "HEAD" && path !== "/")) return true;
    ctx.metrics.requests.inc({ route: "other", code: "405" });
    // The body of a refused request is not read: close rather than wait for it.
    const headers = { allow: path === "/" ? "GET" : "GET, HEAD", connection: "close" };
    reply(res, 405, wantsJson(req), { error: "method not allowed" }, "Method not allowed; use GET.\n", headers);
    return false;
}

function notFound(ctx: RouteContext, req: http.IncomingMessage, res: http.ServerResponse): void {
    ctx.metrics.requests.inc({ route: "other", code: "404" });
    reply(res, 404, wantsJson(req), { error: "not found" }, "Not found.\n");
}

/** The public listener's requests, once within their connection's limits. */
export function publicRoutes(ctx: RouteContext): http.RequestListener {
    const countHit = hitRoute(ctx);
    return (req, res) => {
        // Keep-alive clients are told to reconnect elsewhere once we are draining.
        if (ctx.shuttingDown()) res.setHeader("connection", "close");
        const path = pathOf(req);
        if (!methodAllowed(ctx, req, res, path)) return;
        if (path === "/") return countHit(req, res);
        // Kubelet's readiness probe comes here: a pod whose public listener is full must leave the endpoints.
        if (path === "/readyz") return void readiness(ctx, req, res, false);
        // Notably /favicon.ico: a browser's second request must not count as a hit.
        return notFound(ctx, req, res);
    };
}

/** The operators' listener's requests. */
export function adminRoutes(ctx: RouteContext): http.RequestListener {
    return (req, res) => {
        const path = pathOf(req);
        if (!methodAllowed(ctx, req, res, path)) return;
        switch (path) {
            case "/metrics":
                return void metricsPage(ctx, res).catch((err: Error) => {
                    ctx.log(`metrics failed: ${err.message}`);
                    reply(res, 500, false, {}, "metrics unavailable\n");
                });
            case "/healthz":
                ctx.metrics.requests.inc({ route: "/healthz", code: "200" });
                return reply(res, 200, wantsJson(req), { status: "ok" }, "ok\n");
            case "/readyz":
                return void readiness(ctx, req, res, true);
            default:
                return notFound(ctx, req, res);
        }
    };
}
