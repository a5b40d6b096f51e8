/**
 * `npm run local -- up` and `demo`, as `pulumi up` does it on Kubernetes: render the objects from
 * the same settings and renderers, hand them to the supervisor (the local "cluster"), wait until
 * every pod has started, form the cluster with the same engine over the direct transport, then
 * start the app. A directory that held a cluster before comes back with its data and password.
 */
import { ChildProcess, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { bundleServer } from "../components/app/bundle";
import { waitReplicasFor } from "../components/app/hitCounter";
import { parseWorkloadSettings } from "../components/config";
import { FormResult, form } from "../components/formation/form";
import { DirectTransport } from "../components/formation/transport";
import { REDIS_CONTAINER, redisObjectNames, renderConfigMap, renderStatefulSet } from "../components/redis/manifests";
import { CLIENT_PORT, DEFAULT_CLUSTER_DOMAIN, podName, statefulSetReplicas } from "../components/shape";
import { REDIS_NAME } from "../components/stack";
import { waitUntil } from "../lib/poll";
import { Layout, claimStateDir, mkdirPrivate, removeState, stateDirProblem, writeJson, writePrivate } from "./layout";
import { NoSupervisorError, StatusView, call } from "./protocol";
import {
    FIRST_HOST,
    KUBELET_DEFAULTS,
    KubeletTimings,
    PODS_PER_BLOCK,
    addressIn,
    initialAddress,
    memberPods,
    redisEndpoint,
} from "./rules";
import { localManifestOptions, localSettings } from "./objects";
import {
    ClusterConfig,
    accessOf,
    caFileOf,
    readConfig,
    readObjects,
    readPods,
    readSecrets,
    refuseLeftovers,
    usersOf,
    writeConfig,
    writeSecrets,
} from "./state";
import { ACL_USERS } from "../components/redis/acl";
import { TlsSecretData, newLocalTlsSecret, tlsSecretUsable } from "./certificates";
import { serverCertificateNames } from "../components/redis/tls";
import { refuseIfLocked } from "./lock";
import { Supervisor } from "./supervisor";
import { stopCluster } from "./down";

export interface UpOptions {
    readonly dir: string;
    readonly masters?: number;
    readonly replicas?: number;
    readonly block?: number;
    readonly nodeTimeoutMs?: number;
    /** The preStop handover and the failover agent in the pod template (default: on, as shipped). */
    readonly handover?: boolean;
    readonly takeover?: boolean;
    /** `redis:surgeReplica`: false runs no surge pod (default: the shape's, on with one replica per master; a DIR keeps its choice). */
    readonly surgeReplica?: boolean;
    readonly appPort?: number;
    /** TLS on every link, as on Kubernetes (a DIR keeps the choice it was created with). */
    readonly tls?: boolean;
    readonly timings?: Partial<KubeletTimings>;
    /** Progress lines (stderr in the CLI). */
    readonly log: (line: string) => void;
}

export interface UpSummary {
    /** host:port of every Redis pod, masters first (as today's `nodes`). */
    readonly nodes: string[];
    /** The admin user's password (`redis-cli --user admin`). */
    readonly password: string;
    /** Each ACL user with its password (`default` is off). */
    readonly users: readonly { readonly name: string; readonly password: string }[];
    /** With TLS: the CA certificate's file, for clients (`redis-cli --tls --cacert`, ioredis `tls.ca`). */
    readonly ca?: string;
    readonly app: string;
    readonly dir: string;
    readonly shards: FormResult["shards"];
    /** Every pod of the StatefulSet; `surge`: the surge pod, in no cluster until a stopping pod recruits it. */
    readonly pods: { readonly name: string; readonly address: string; readonly role?: string; readonly surge?: boolean }[];
}

/** Where the supervisor runs: its own detached process (`up`) or inside the caller (`demo`). */
export type Hosting = { readonly kind: "detached" } | { readonly kind: "in-process"; readonly log: (line: string) => void };

export interface Started {
    readonly layout: Layout;
    readonly summary: UpSummary;
    /** The in-process supervisor (demo), to stop on exit. */
    readonly supervisor?: Supervisor;
    /** Whether this run created the cluster's state in DIR (a fresh DIR), i.e. owns it. */
    readonly createdState: boolean;
}

/** Loopback block of the default cluster: pods on 127.0.1.11 and up. */
const DEFAULT_BLOCK = 1;
const SUPERVISOR_MAIN = path.join(__dirname, "supervisorMain.ts");

/** Renders, starts and forms; on any failure stops what it started (and removes the state it created). */
export async function upCluster(o: UpOptions, hosting: Hosting): Promise<Started> {
    const { layout, createdState } = await prepare(o);
    let supervisor: Supervisor | undefined;
    let child: ChildProcess | undefined;
    try {
        if (hosting.kind === "in-process") supervisor = await Supervisor.start(layout.dir, hosting.log);
        else child = spawnSupervisor(layout);
        const summary = await formAndServe(layout, o.log, child);
        return { layout, summary, supervisor, createdState };
    } catch (e) {
        if (supervisor) await supervisor.stop();
        else await stopCluster(layout);
        if (createdState) removeState(layout.dir, false);
        throw e;
    }
}

/** Checks DIR and the addresses, then writes DIR's config, Secret, objects and app bundle. Nothing is written when a check fails. */
async function prepare(o: UpOptions): Promise<{ layout: Layout; createdState: boolean }> {
    const layout = new Layout(o.dir);
    const problem = stateDirProblem(layout.dir);
    if (problem) throw new Error(`--dir: ${problem}`);
    const previous = readConfig(layout);
    const config = clusterConfig(o, previous, layout);
    // Before anything is written: a surge pod asked for with another replica count is refused here.
    const settings = localSettings(config);
    refuseRunning(layout);
    await refuseTakenAddresses(layout, config.block, statefulSetReplicas(settings.redis, settings.redis.surgeReplica));
    claimStateDir(layout.dir);
    const manifestOptions = localManifestOptions(settings);
    const secrets = readSecrets(layout);
    // A DIR started before keeps its passwords: its data and clients' settings stay valid.
    const kept = secrets[config.usersSecret] ?? {};
    const users = Object.fromEntries(ACL_USERS.map((u) => [u, kept[u] ?? newPassword()]));
    const tlsSecrets = config.tls
        ? { [config.tls.secret]: localTlsSecret(secrets[config.tls.secret], config.block, settings.namespace) }
        : {};
    writeSecrets(layout, { ...secrets, [config.usersSecret]: users, ...tlsSecrets });
    writeJson(layout.objectFile("statefulset"), renderStatefulSet(manifestOptions));
    writeJson(layout.objectFile("configmap"), renderConfigMap(manifestOptions));
    writePrivate(layout.appBundle, bundleServer());
    writeConfig(layout, config);
    return { layout, createdState: previous === undefined };
}

/**
 * The TLS Secret of a DIR: the one it kept while its certificate has more than a month to go (the
 * pods' and clients' CA stays the same), else a new CA and certificate. The certificate names what
 * the stack's does, plus every address a pod of this block can get, since local clients dial those.
 */
function localTlsSecret(kept: TlsSecretData | undefined, block: number, namespace: string): TlsSecretData {
    if (tlsSecretUsable(kept)) return kept;
    const names = redisObjectNames(REDIS_NAME);
    const { dnsNames, ipAddresses } = serverCertificateNames({
        headlessService: names.headlessService,
        clientService: names.clientService,
        namespace,
    });
    const podAddresses = Array.from({ length: PODS_PER_BLOCK }, (_, i) => addressIn(block, FIRST_HOST + i));
    return newLocalTlsSecret(dnsNames, [...ipAddresses, ...podAddresses]);
}

/** The cluster's config: flags over what DIR recorded over the defaults; a DIR keeps its shape, block and TLS. */
function clusterConfig(o: UpOptions, previous: ClusterConfig | undefined, layout: Layout): ClusterConfig {
    const asked = { masters: o.masters, replicas: o.replicas, block: o.block };
    if (previous) {
        const recorded = { masters: previous.masters, replicas: previous.replicasPerMaster, block: previous.block };
        for (const key of ["masters", "replicas", "block"] as const) {
            if (asked[key] !== undefined && asked[key] !== recorded[key]) {
                throw new Error(
                    `--${key}: ${layout.dir} holds a cluster with ${key} ${recorded[key]}, got ${asked[key]}; omit the flag or use another --dir`,
                );
            }
        }
        if (o.tls && !previous.tls) {
            throw new Error(
                `--tls: ${layout.dir} holds a cluster without TLS (its clients connect in plain text); omit the flag or use another --dir`,
            );
        }
    }
    const defaults = parseWorkloadSettings({});
    const names = redisObjectNames(REDIS_NAME);
    const replicasPerMaster = asked.replicas ?? previous?.replicasPerMaster ?? defaults.redis.replicasPerMaster;
    const surgeReplica = o.surgeReplica ?? previous?.surgeReplica;
    return {
        masters: asked.masters ?? previous?.masters ?? defaults.redis.masters,
        replicasPerMaster,
        nodeTimeoutMs: o.nodeTimeoutMs ?? previous?.nodeTimeoutMs ?? defaults.redis.nodeTimeoutMs,
        handover: o.handover ?? previous?.handover ?? defaults.redis.handover,
        takeover: o.takeover ?? previous?.takeover ?? defaults.redis.takeover,
        ...(surgeReplica !== undefined ? { surgeReplica } : {}),
        block: asked.block ?? previous?.block ?? DEFAULT_BLOCK,
        namespace: defaults.namespace,
        clusterDomain: DEFAULT_CLUSTER_DOMAIN,
        usersSecret: names.usersSecret,
        ...(o.tls || previous?.tls ? { tls: { secret: names.tlsSecret } } : {}),
        runnableImages: [defaults.redis.image],
        redisContainer: REDIS_CONTAINER,
        timings: { ...KUBELET_DEFAULTS, ...previous?.timings, ...o.timings },
        app: { port: o.appPort ?? previous?.app.port, waitReplicas: waitReplicasFor(replicasPerMaster) },
    };
}

/** A password for a local user: 24 URL-safe characters, within the ACL password rule. */
export function newPassword(): string {
    return randomBytes(18).toString("base64url");
}

function refuseRunning(layout: Layout): void {
    refuseIfLocked(layout);
    refuseLeftovers(layout);
}

/** Every pod's address (the StatefulSet's `count` pods) must be free: another cluster (or anything) answering there would be joined by mistake. */
async function refuseTakenAddresses(layout: Layout, block: number, count: number): Promise<void> {
    const recorded = new Map(readPods(layout).pods.map((p) => [p.name, p.address]));
    const addresses = Array.from({ length: count }, (_, i) => recorded.get(podName(REDIS_NAME, i)) ?? initialAddress(block, i));
    const taken = (await Promise.all(addresses.map(async (a) => ((await answers(a, CLIENT_PORT)) ? a : undefined)))).filter(
        (a) => a !== undefined,
    );
    if (taken.length > 0) {
        throw new Error(
            `--block: ${taken.map((a) => redisEndpoint(a)).join(", ")} already answer${taken.length === 1 ? "s" : ""} (another local cluster on block ${block}?); stop it or choose another --block`,
        );
    }
}

function answers(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ host, port, timeout: 1000 });
        s.once("connect", () => (s.destroy(), resolve(true)));
        s.once("timeout", () => (s.destroy(), resolve(true)));
        s.once("error", () => resolve(false));
    });
}

/** The detached supervisor: its own process group, output to DIR/logs/supervisor.log, no tie to this terminal. */
function spawnSupervisor(layout: Layout): ChildProcess {
    mkdirPrivate(path.dirname(layout.supervisorLog));
    const fd = fs.openSync(layout.supervisorLog, "a", 0o600);
    try {
        const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", SUPERVISOR_MAIN, layout.dir], {
            detached: true,
            stdio: ["ignore", fd, fd],
            cwd: path.join(__dirname, ".."),
            env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? layout.dir },
        });
        child.unref();
        return child;
    } finally {
        fs.closeSync(fd);
    }
}

/** Waits until every pod has started, forms the cluster, starts the app. */
async function formAndServe(layout: Layout, log: (line: string) => void, child: ChildProcess | undefined): Promise<UpSummary> {
    const config = readConfig(layout) as ClusterConfig;
    const access = accessOf(layout, config);
    const users = usersOf(layout, config);
    let exited: string | undefined;
    child?.once(
        "exit",
        (code, signal) => (exited = `the supervisor exited (${signal ?? `code ${code}`}):\n${logTail(layout.supervisorLog)}`),
    );
    const count = readObjects(layout).statefulSet.spec.replicas;
    log(`[runtime] starting ${count} Redis pods (node-start.sh, probes as in the StatefulSet); state in ${layout.dir}`);
    let pods: StatusView["pods"] = [];
    await waitUntil(
        "every Redis pod started (startup probe passed)",
        async () => {
            if (exited) throw new Error(exited);
            try {
                pods = (await call<StatusView>(layout, { verb: "status" }, 10_000)).pods;
            } catch (e) {
                if (e instanceof NoSupervisorError) return "the supervisor is not serving yet";
                throw e;
            }
            const waiting = pods.filter((p) => !p.started).map((p) => p.name);
            return waiting.length ? `not started: ${waiting.join(", ")} (see ${path.join(layout.dir, "logs")})` : undefined;
        },
        { timeoutMs: 60_000 + 1000 * count, intervalMs: 200 },
    );
    const transport = new DirectTransport(access);
    let formation: FormResult;
    try {
        formation = await form({
            // The members: the surge pod stays out of the cluster until a stopping pod recruits it.
            nodes: memberPods(REDIS_NAME, pods, config).map((p) => ({
                address: redisEndpoint(p.address),
                target: redisEndpoint(p.address),
            })),
            masters: config.masters,
            replicasPerMaster: config.replicasPerMaster,
            transport,
            log: (l) => log(`[formation] ${l}`),
        });
    } finally {
        await transport.close();
    }
    log("[app] starting the hit counter");
    const { url } = await call<{ url: string }>(layout, { verb: "start-app" });
    const status = await call<StatusView>(layout, { verb: "status" });
    return {
        nodes: [...formation.seeds],
        password: access.password,
        users: ACL_USERS.map((name) => ({ name, password: users[name] })),
        ...(config.tls ? { ca: caFileOf(layout, config) } : {}),
        app: url,
        dir: layout.dir,
        shards: formation.shards,
        pods: status.pods.map((p) => ({ name: p.name, address: p.address, role: p.role, ...(p.surge ? { surge: true } : {}) })),
    };
}

export function logTail(file: string, lines = 20): string {
    if (!fs.existsSync(file)) return "(no log)";
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}
