/** Pure: how `status` and the drill show pods (like `kubectl get pods -o wide` plus each node's Redis role). */
import type { LiveReport } from "../components/formation/live";
import { PodView, StatusView } from "./protocol";

function roleOf(p: PodView): string {
    const surge = p.surge ? " (surge)" : "";
    if (p.role === "master") return `master${surge}`;
    if (p.role === "replica") return `replica of ${p.master ?? "?"}${surge}`;
    if (p.redisError) return `(${p.redisError})${surge}`;
    return p.surge ? "surge, idle" : "-";
}

function stateOf(p: PodView): string {
    if (p.frozen) return "Frozen";
    const waiting = p.containers.find((c) => c.state === "waiting" && c.restartInMs !== undefined);
    if (waiting) return `Restarting in ${Math.ceil((waiting.restartInMs ?? 0) / 1000)} s`;
    return p.phase;
}

function table(rows: readonly string[][]): string {
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return rows
        .map((r) =>
            r
                .map((cell, i) => cell.padEnd(widths[i]))
                .join("  ")
                .trimEnd(),
        )
        .join("\n");
}

export function renderPods(pods: readonly PodView[]): string {
    const rows = [["NAME", "ADDRESS", "STATUS", "READY", "RESTARTS", "ROLE", "CLUSTER_STATE"]];
    for (const p of pods) {
        rows.push([p.name, p.address, stateOf(p), p.ready ? "1/1" : "0/1", String(p.restarts), roleOf(p), p.clusterState ?? "-"]);
    }
    return table(rows);
}

export function renderStatus(s: StatusView): string {
    const app = s.app ? `${s.app.url}  ${s.app.ready ? "ready" : "not ready"}  restarts ${s.app.restarts}` : "(not started)";
    return [
        renderPods(s.pods),
        "",
        `cluster_state: ${s.clusterState}`,
        `app: ${app}`,
        `supervisor: pid ${s.supervisorPid}, state in ${s.dir}`,
    ].join("\n");
}

/** One line per pod, as the tutorial's `redis-cli role` listings read: the role and, for a master, its replicas. */
export function renderRoles(pods: readonly PodView[]): string {
    return pods
        .map((p) => {
            if (p.role === "master") {
                const replicas = pods.filter((r) => r.role === "replica" && r.master === p.name).map((r) => `${r.name} (${r.address})`);
                return `  ${p.name}  ${p.address.padEnd(15)} master   replicas: ${replicas.join(", ") || "none"}`;
            }
            return `  ${p.name}  ${p.address.padEnd(15)} ${p.role === "replica" ? `replica  of ${p.master}` : roleOf(p)}`;
        })
        .join("\n");
}

/** The formation's read as `status` shows it: the drift, then what the next formation run would do. */
export function renderDrift(r: Pick<LiveReport, "drift" | "converge">): string {
    if (r.drift.length === 0 && r.converge.length === 0) return "drift: none";
    return [
        `drift: ${r.drift.length === 0 ? "none" : ""}`.trimEnd(),
        ...r.drift.map((d) => `  ${d.kind}: ${d.message}`),
        ...(r.converge.length ? ["the next formation run would:", ...r.converge.map((l) => `  ${l}`)] : []),
    ].join("\n");
}
