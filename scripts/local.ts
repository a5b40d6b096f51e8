/**
 * The embedded local mode: a Redis Cluster of local pods run exactly as the StatefulSet runs them
 * (node-start.sh, redis.conf, probes), supervised like a kubelet, formed by the project's own
 * engine, plus the hit-counter app.
 *
 *   npm run demo                               3x1 in the foreground; Ctrl-C stops everything
 *   npm run local -- up [--dir DIR]            start the supervisor, form, serve; returns (last stdout line: JSON)
 *   npm run local -- status [--json]           pods, roles, restarts, readiness, cluster_state, the app, drift
 *   npm run local -- scale --masters N --replicas R   drain the pods that go, resize, join or forget
 *   npm run local -- kill|delete|freeze|thaw POD, roll, logs POD, drill [--delete|--freeze]
 *   npm run local -- rotate-password [--user NAME]   new passwords without a refused hit (new next to old, clients move, old removed)
 *   npm run local -- chaos --duration S --seed N   random faults under load, then a verdict
 *   npm run local -- down                      stop the supervisor and everything under it (data stays)
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stopCluster } from "../local/down";
import { runChaos } from "../local/chaos";
import { runDrill } from "../local/drill";
import { Layout, removeState } from "../local/layout";
import { DeleteResult, FreezeResult, KillResult, RollResult, StatusView, call } from "../local/protocol";
import { renderDrift, renderPods, renderRoles, renderStatus } from "../local/statusView";
import { readConfig } from "../local/state";
import { CliOptions, UsageError, kubeletTimings, parseArgs, usage } from "../local/cliArgs";
import type { Started, UpSummary } from "../local/up";
import type { AclUserName } from "../components/redis/acl";

/** Writes to stdout/stderr that never throw: a closed pipe (EPIPE) must not stop the cleanup. */
const out = (line: string) => write(process.stdout, line);
const err = (line: string) => write(process.stderr, line);
function write(stream: NodeJS.WriteStream, line: string): void {
    if (stream.destroyed || !stream.writable) return;
    stream.write(`${line}\n`);
}
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => stream.destroy());

function printSummary(s: UpSummary, seconds: number, foreground: boolean): void {
    out(`Redis Cluster up in ${seconds.toFixed(1)} s: ${s.pods.length} pods (${s.shards.length} masters), state in ${s.dir}`);
    out(`Hit counter:  ${s.app}/     (try: curl ${s.app}/)`);
    out(`Redis seeds:  ${s.nodes.join(" ")}`);
    const tls = s.ca ? ` --tls --cacert ${s.ca}` : "";
    out(`redis-cli:    REDISCLI_AUTH='${s.password}' redis-cli --user admin -c -h ${s.nodes[0].split(":")[0]}${tls}`);
    if (s.ca) out(`TLS:          every link; clients verify the server with the CA ${s.ca}`);
    out("Pods:");
    for (const p of s.pods) out(`  ${p.name}  ${p.address.padEnd(15)} ${p.role ?? ""}${p.surge ? `${p.role ? " " : ""}(surge pod)` : ""}`);
    out(
        `Try:          npm run local -- drill --dir ${s.dir}     (the tutorial's failover demo: SIGKILL the master of "hits" under load; --delete: new address)`,
    );
    out(`              npm run local -- status|kill|delete|freeze|thaw|roll|logs … --dir ${s.dir}`);
    if (!foreground) {
        out(`Stop with:    npm run local -- down --dir ${s.dir}`);
        out(JSON.stringify(s));
    }
}

async function start(o: CliOptions, foreground: boolean): Promise<Started> {
    const { upCluster } = await import("../local/up");
    const t0 = Date.now();
    const log = (line: string) => err(line);
    const started = await upCluster(
        {
            dir: o.dir,
            masters: o.masters,
            replicas: o.replicas,
            block: o.block,
            nodeTimeoutMs: o.nodeTimeoutMs,
            handover: o.noHandover ? false : undefined,
            takeover: o.noTakeover ? false : undefined,
            surgeReplica: o.noSurge ? false : undefined,
            appPort: o.appPort,
            tls: o.tls,
            timings: kubeletTimings(o),
            log,
        },
        foreground ? { kind: "in-process", log: (l) => err(`[runtime] ${l}`) } : { kind: "detached" },
    );
    printSummary(started.summary, (Date.now() - t0) / 1000, foreground);
    return started;
}

/** The foreground demo: runs until a signal or `down`, then stops everything it started, even with stdout closed. */
async function demo(o: CliOptions): Promise<void> {
    // mkdtemp: a new directory, mode 0700, with a name nobody can guess in advance.
    const dir = o.temporaryDir ? fs.mkdtempSync(path.join(os.tmpdir(), "redis-demo-")) : o.dir;
    const ownsDir = o.temporaryDir || !fs.existsSync(dir);
    let started: Started | undefined;
    let finishing: Promise<void> | undefined;
    const finish = (why: string) => {
        finishing ??= (async () => {
            err(`\n${why}: stopping the app and every pod`);
            await started?.supervisor?.stop();
            // Only what this demo created: a cluster that was in --dir before stays.
            if (started?.createdState || o.temporaryDir) removeState(dir, ownsDir);
        })();
        return finishing;
    };
    const signalled = new Promise<string>((resolve) => {
        for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, () => resolve(s));
        // Whatever goes wrong later, the pods this demo started are stopped before it exits.
        process.on("uncaughtException", (e) => resolve(`error: ${e.message}`));
    });
    const starting = start({ ...o, dir }, true).then(
        (s) => (started = s),
        (e: Error) => {
            if (o.temporaryDir) removeState(dir, true);
            else if (ownsDir && fs.existsSync(dir) && fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
            throw e;
        },
    );
    const interrupted = await Promise.race([starting.then(() => undefined), signalled]);
    if (interrupted) {
        // A signal while starting: let the start finish (or fail and clean up after itself), then stop it all.
        await starting.catch(() => undefined);
        await finish(interrupted);
        throw new Error(`${interrupted} while starting`);
    }
    out("Press Ctrl-C to stop everything.");
    const stoppedElsewhere = new Promise<string>(
        (resolve) => started?.supervisor && (started.supervisor.onStopped = () => resolve("stopped by down")),
    );
    const keepAlive = setInterval(() => undefined, 1 << 30);
    const why = await Promise.race([signalled, stoppedElsewhere]);
    await finish(why);
    clearInterval(keepAlive);
    if (why.startsWith("error:")) throw new Error(why.slice("error: ".length));
}

function layoutOf(o: CliOptions): Layout {
    return new Layout(o.dir);
}

async function down(o: CliOptions): Promise<void> {
    const layout = layoutOf(o);
    if (!readConfig(layout)) throw new UsageError(`--dir: no local cluster in ${layout.dir}`);
    const r = await stopCluster(layout);
    const how = r.bySupervisor ? "the supervisor stopped every pod and the app" : "no supervisor was running";
    out(
        `${how}${r.orphans.length ? `; stopped ${r.orphans.length} processes it left (${[...new Set(r.orphans.map((p) => p.pod))].join(", ")})` : ""} (data stays in ${layout.dir})`,
    );
}

async function status(o: CliOptions): Promise<void> {
    const s = await call<StatusView>(layoutOf(o), { verb: "status" });
    const { liveStatus } = await import("../local/scale");
    const live = await liveStatus(layoutOf(o), s.pods);
    out(o.json ? JSON.stringify({ ...s, drift: live.drift, converge: live.converge }) : `${renderStatus(s)}\n${renderDrift(live)}`);
}

async function scale(o: CliOptions): Promise<void> {
    const { scaleCluster } = await import("../local/scale");
    const r = await scaleCluster(layoutOf(o), { masters: o.masters, replicasPerMaster: o.replicas }, err);
    const shape = (s: { masters: number; replicasPerMaster: number }) => `${s.masters}x${s.replicasPerMaster}`;
    out(
        `scaled ${shape(r.from)} -> ${shape(r.to)}: drained ${r.drained.join(", ") || "none"}; removed ${r.removed.map((p) => p.pod).join(", ") || "none"}; added ${r.added.map((p) => p.pod).join(", ") || "none"}`,
    );
    out(renderDrift(r.report));
}

async function podVerb(o: CliOptions): Promise<void> {
    const layout = layoutOf(o);
    const pod = o.pod as string;
    switch (o.command) {
        case "kill": {
            const r = await call<KillResult>(layout, { verb: "kill", pod, container: o.container });
            out(
                `killed ${r.pod}/${r.container} (pid ${r.pid}, SIGKILL); the kubelet restarts it at ${r.address} ${r.restartInMs ? `after a ${r.restartInMs} ms back-off` : "at once"} (restarts: ${r.restarts})`,
            );
            return;
        }
        case "delete": {
            const r = await call<DeleteResult>(layout, { verb: "delete", pod });
            out(
                `deleted ${r.pod} (${r.oldAddress}): terminated after ${r.terminatedAfterMs} ms; recreated at ${r.newAddress} with its data after ${r.recreatedAfterMs} ms`,
            );
            return;
        }
        case "freeze":
        case "thaw": {
            const r = await call<FreezeResult>(layout, { verb: o.command, pod });
            out(
                o.command === "freeze"
                    ? `froze ${r.pod} (${r.address}): SIGSTOP, its kubelet stops too`
                    : `thawed ${r.pod} (${r.address}): SIGCONT`,
            );
            return;
        }
        case "logs": {
            const config = readConfig(layout);
            if (!config) throw new UsageError(`--dir: no local cluster in ${layout.dir}`);
            const file = layout.log(pod);
            if (!fs.existsSync(file))
                throw new UsageError(`logs: no log of a pod named ${JSON.stringify(pod)} in ${path.dirname(file)} (pods: redis-0…, app)`);
            process.stdout.write(fs.readFileSync(file));
            return;
        }
    }
}

async function roll(o: CliOptions): Promise<void> {
    err("rolling every Redis pod, highest ordinal first, each Ready before the next…");
    const r = await call<RollResult>(layoutOf(o), { verb: "roll" });
    for (const s of r.steps) out(`  ${s.pod}: ${s.oldAddress} -> ${s.newAddress}, Ready after ${s.readyAfterMs} ms`);
    out(`rolled ${r.steps.length} pods`);
}

async function drill(o: CliOptions): Promise<void> {
    const r = await runDrill(layoutOf(o), { mode: o.delete ? "delete" : o.freeze ? "freeze" : "kill", clients: o.clients, say: out });
    out(`\nRoles after:\n${renderRoles(r.after)}`);
    const moved =
        r.addressAfter !== r.addressBefore
            ? `, now at ${r.addressAfter} (was ${r.addressBefore})`
            : `, at the same address ${r.addressAfter}`;
    const story =
        r.roleAfter === "replica"
            ? "its replica took over and it came back as a replica"
            : "it came back before the cluster declared it failed, so it is still master (no failover was needed)";
    out(`\n${r.pod}: ${story}${moved}.`);
    const promoted = r.promotedMs === undefined ? "" : ` (a replica took over after ${r.promotedMs} ms)`;
    out(`writes unavailable: ${r.longestGapMs.toFixed(0)} ms, the longest time between two acknowledged hits${promoted}`);
    if (r.promotedMs !== undefined && r.longestGapMs > r.promotedMs + 1000) {
        out(`  durable hits (WAIT 1) resumed only once ${r.pod} was back as a replica: the promoted master had no replica before`);
    }
    out(
        `acknowledged hits: ${r.acknowledged}, refused (503, retried): ${r.refused}, counter now ${r.finalCounter}, acknowledged hits lost: ${r.lost}`,
    );
    out(`\n${renderPods(r.after)}`);
    out(
        JSON.stringify({
            ...r,
            before: r.before.map((p) => ({ name: p.name, address: p.address, role: p.role, master: p.master })),
            after: r.after.map((p) => ({ name: p.name, address: p.address, role: p.role, master: p.master })),
        }),
    );
    if (r.lost > 0) throw new Error(`${r.lost} acknowledged hits lost`);
}

async function rotatePassword(o: CliOptions): Promise<void> {
    const { rotateLocalPasswords } = await import("../local/rotate");
    const users = o.user === undefined ? undefined : [o.user as AclUserName];
    const r = await rotateLocalPasswords(layoutOf(o), { users, log: err });
    const refused = Object.entries(r.oldRefused).map(([u, ok]) => `${u}: ${ok ? "refused on every pod" : "STILL ACCEPTED somewhere"}`);
    out(
        `rotated ${r.users.join(", ")} on ${r.nodes.length} pods in ${(r.durationMs / 1000).toFixed(1)} s; old passwords: ${refused.join("; ")}`,
    );
    out(JSON.stringify(r));
    if (Object.values(r.oldRefused).some((ok) => !ok)) throw new Error("an old password is still accepted");
}

async function chaos(o: CliOptions): Promise<void> {
    const r = await runChaos(layoutOf(o), {
        durationMs: (o.duration as number) * 1000,
        seed: o.seed as number,
        clients: o.clients,
        say: out,
    });
    const applied = r.faults.filter((f) => !f.skipped).length;
    out(
        `\n${applied} faults (${r.faults.length - applied} skipped); write gaps: longest ${r.longestGapMs.toFixed(0)} ms, median of the faults' longest ${Number.isFinite(r.medianFaultGapMs) ? r.medianFaultGapMs.toFixed(0) : "-"} ms`,
    );
    out(
        `acknowledged hits: ${r.acknowledged}, refused (503, retried): ${r.refused}, counter now ${r.finalCounter}, acknowledged hits lost: ${r.lost} (returned twice ${r.repeated}, went backwards ${r.wentBackwards})`,
    );
    out(
        `redis-cli --cluster check: ${r.clusterCheckProblems.length ? r.clusterCheckProblems.join("; ") : "clean"}; replica links: ${r.linksDown.length ? `down: ${r.linksDown.join(", ")}` : "all up"}`,
    );
    out(`verdict: ${r.verdict.toUpperCase()}${r.problems.length ? `\n  ${r.problems.join("\n  ")}` : ""}`);
    out(JSON.stringify(r));
    if (r.verdict !== "pass") throw new Error(`chaos (seed ${r.seed}) failed: ${r.problems.join("; ")}`);
}

export async function main(argv: readonly string[]): Promise<void> {
    const o = parseArgs(argv);
    process.umask(0o077);
    switch (o.command) {
        case "demo":
            return demo(o);
        case "up":
            await start(o, false);
            return;
        case "down":
            return down(o);
        case "status":
            return status(o);
        case "scale":
            return scale(o);
        case "roll":
            return roll(o);
        case "drill":
            return drill(o);
        case "rotate-password":
            return rotatePassword(o);
        case "chaos":
            return chaos(o);
        default:
            return podVerb(o);
    }
}

/** Exits once stdout and stderr have taken every line (a pipe is written asynchronously). */
function exitWhenFlushed(code: number): void {
    process.exitCode = code;
    let pending = 2;
    const flushed = () => --pending === 0 && process.exit(code);
    for (const stream of [process.stdout, process.stderr]) {
        if (stream.destroyed || !stream.writable) flushed();
        else stream.write("", flushed);
    }
    setTimeout(() => process.exit(code), 2000).unref();
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        () => exitWhenFlushed(0),
        (e: Error) => {
            err(e instanceof UsageError ? `error: ${e.message}\n\n${usage()}` : `error: ${e.message}`);
            exitWhenFlushed(e instanceof UsageError ? 2 : 1);
        },
    );
}
