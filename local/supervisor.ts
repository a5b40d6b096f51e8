/**
 * The supervisor of one local cluster: it plays the kubelet of every pod (local/pod.ts), the
 * StatefulSet controller (a deleted pod is recreated with its name and data at a new address;
 * `roll` replaces the pods highest ordinal first, each Ready before the next), the cluster DNS
 * (DIR/dns/hosts, read by node-start.sh through RESOLVE_CMD) and the hit counter's Deployment.
 * One supervisor per DIR (DIR/supervisor.pid is its lock); the verbs reach it over
 * DIR/supervisor.sock. Every process it starts is recorded in DIR/pods.json, so `down` can stop
 * them even if the supervisor itself was killed.
 */
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { setTimeout as sleep } from "timers/promises";
import { DirectTransport, NodeAccess } from "../components/formation/transport";
import { waitUntil } from "../lib/poll";
import { recordProcess } from "../lib/process";
import { anyFreePort, appPodSpec, pickAppPort } from "./appPod";
import { Layout, mkdirPrivate, writeJson, writePrivate } from "./layout";
import { LocalPod } from "./pod";
import { acquireLock, releaseLock } from "./lock";
import { notReadyBecause, redisView, replacingView } from "./podViews";
import { ConfigMapJson, LocalPodSpec, StatefulSetJson, localPodSpec, volumeFiles } from "./podTemplate";
import { AppView, DeleteResult, FreezeResult, KillResult, PodView, Request, RollResult, ScaleResult, StatusView, serve } from "./protocol";
import { podDnsName, podName } from "../components/shape";
import { TLS_FILES } from "../components/redis/tls";
import { SURGE_POD_KEY, TLS_VOLUME, USERS_VOLUME } from "../components/redis/paths";
import { APP_USER } from "../components/redis/acl";
import { initialAddress, nextAddress, redisEndpoint, rollOrder } from "./rules";
import {
    ClusterConfig,
    PodRecord,
    Secrets,
    accessOf,
    readConfig,
    readObjects,
    readPods,
    readSecrets,
    refuseLeftovers,
    writePods,
} from "./state";

/**
 * What a pod's own network namespace gives redis-server for free and a shared loopback does not:
 * listening on, and dialing peers from, the pod's address only. Clients get addresses, not the
 * pods' DNS names (nothing outside the runtime resolves those).
 */
export function redisLocalArgs(address: string): string[] {
    return ["--bind", address, "--bind-source-addr", address, "--cluster-preferred-endpoint-type", "ip"];
}

/** Cluster DNS for the pods: `name address` lines, resolved by this script (RESOLVE_CMD of node-start.sh). */
const RESOLVER = `#!/bin/sh
# The local runtime's cluster DNS: prints the current address of a pod's DNS name.
exec awk -v n="$1" '$1 == n { print $2; found = 1 } END { exit !found }' "$(dirname "$0")/hosts"
`;

/** RESOLVE_CMD relative to the pods' working directory (DIR): word splitting cannot break it; run by sh, so the file stays 0600. */
const RESOLVE_CMD = "sh dns/resolve.sh";

/** Waits of `roll` for a pod to become Ready. */
const ROLL_READY_TIMEOUT_MS = 120_000;
const APP_READY_TIMEOUT_MS = 30_000;

export class Supervisor {
    private readonly pods = new Map<string, LocalPod>();
    /** Pods between their deletion and their replacement (the StatefulSet controller owes them). */
    private readonly replacing = new Set<string>();
    private readonly addresses = new Map<string, string>();
    private readonly podQueue = new Map<string, Promise<unknown>>();
    private app?: LocalPod;
    private appUrl?: string;
    private lastAddress?: string;
    private server?: net.Server;
    private rolling = false;
    private stopped?: Promise<void>;
    private access: NodeAccess;
    private podNames: string[];

    private constructor(
        readonly layout: Layout,
        private readonly config: ClusterConfig,
        private readonly statefulSet: StatefulSetJson,
        private configMap: ConfigMapJson,
        private secrets: Secrets,
        private readonly log: (line: string) => void,
    ) {
        this.access = accessOf(layout, config);
        this.podNames = Array.from({ length: statefulSet.spec.replicas }, (_, i) => podName(statefulSet.metadata.name, i));
    }

    /** Takes DIR's lock, starts every Redis pod (in parallel, as podManagementPolicy Parallel) and serves the verbs. */
    static async start(dir: string, log: (line: string) => void): Promise<Supervisor> {
        const layout = new Layout(dir);
        const config = readConfig(layout);
        if (!config)
            throw new Error(
                `${layout.dir} holds no local cluster (cluster.json): start one with \`npm run local -- up --dir ${layout.dir}\``,
            );
        const { statefulSet, configMap } = readObjects(layout);
        acquireLock(layout);
        const s = new Supervisor(layout, config, statefulSet, configMap, readSecrets(layout), log);
        try {
            await s.boot();
        } catch (e) {
            await s.stop();
            throw e;
        }
        return s;
    }

    private async boot(): Promise<void> {
        refuseLeftovers(this.layout);
        const leftover = readPods(this.layout);
        this.lastAddress = leftover.lastAddress;
        this.podNames.forEach((name, i) => {
            const address = leftover.pods.find((p) => p.name === name)?.address ?? initialAddress(this.config.block, i);
            this.addresses.set(name, address);
            if (!this.lastAddress || hostOf(address) > hostOf(this.lastAddress)) this.lastAddress = address;
        });
        writePrivate(this.layout.resolver, RESOLVER);
        this.materializeVolumes();
        for (const name of this.podNames) this.pods.set(name, this.createPod(name, this.addresses.get(name) as string));
        this.writeHosts();
        this.server = await serve(this.layout, (r) => this.handle(r));
        await Promise.all([...this.pods.values()].map((p) => p.start()));
        this.persist();
        this.log(`supervisor ${process.pid}: ${this.pods.size} pods started in ${this.layout.dir}`);
    }

    /**
     * ConfigMap and Secret volumes, shared by every pod (a pod sees exactly the object's data). Each
     * file is replaced atomically, so a running pod reading one during a sync sees the old or the new
     * content, as with the kubelet's updates of a mounted Secret.
     */
    private materializeVolumes(): void {
        const configMaps = { [this.configMap.metadata.name]: this.configMap.data };
        for (const v of this.statefulSet.spec.template.spec.volumes ?? []) {
            const files = volumeFiles(v, configMaps, this.secrets);
            if (Object.keys(files).length === 0) continue;
            const root = this.layout.volume(v.name);
            for (const [file, content] of Object.entries(files)) writePrivate(path.join(root, file), content);
            for (const left of fs.readdirSync(root).filter((f) => !(f in files))) fs.rmSync(path.join(root, left), { recursive: true });
        }
    }

    /**
     * The surge pod the ConfigMap names (what the pods read as /conf/surge-pod), if any: no member at
     * rest, so the app's seeds and the cluster state leave it out.
     */
    private surgePod(): string | undefined {
        return this.configMap.data[SURGE_POD_KEY] || undefined;
    }

    /** The kubelet's update of mounted Secrets: DIR's secrets.json changed (a password rotation), the pods' files follow. */
    private syncSecrets(): { volumes: string[] } {
        this.secrets = readSecrets(this.layout);
        this.access = accessOf(this.layout, this.config);
        this.materializeVolumes();
        const volumes = (this.statefulSet.spec.template.spec.volumes ?? []).filter((v) => v.secret).map((v) => v.name);
        this.log(`sync-secrets: the Secret volumes ${volumes.join(", ")} hold secrets.json's data`);
        return { volumes };
    }

    private podSpec(name: string, address: string): LocalPodSpec {
        const claimNames = (this.statefulSet.spec.volumeClaimTemplates ?? []).map((c) => c.metadata.name);
        return localPodSpec({
            template: this.statefulSet.spec.template,
            podName: name,
            namespace: this.config.namespace,
            address,
            claimNames,
            volumes: {
                shared: (v) => this.layout.volume(v),
                emptyDir: (v) => this.layout.emptyDir(name, v),
                claim: (c) => this.layout.claim(c, name),
            },
            secrets: this.secrets,
            configMaps: { [this.configMap.metadata.name]: this.configMap.data },
            runnableImages: this.config.runnableImages,
            baseEnv: { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin" },
            localEnv: { RESOLVE_CMD, PROBE_HOST: address },
            localArgs: { [this.config.redisContainer]: redisLocalArgs(address) },
            nodeName: os.hostname(),
        });
    }

    private createPod(name: string, address: string): LocalPod {
        const spec = this.podSpec(name, address);
        for (const v of this.statefulSet.spec.template.spec.volumes ?? [])
            if (v.emptyDir !== undefined) mkdirPrivate(this.layout.emptyDir(name, v.name));
        for (const c of this.statefulSet.spec.volumeClaimTemplates ?? []) mkdirPrivate(this.layout.claim(c.metadata.name, name));
        this.addresses.set(name, address);
        return new LocalPod(spec, {
            timings: this.config.timings,
            logFile: this.layout.log(name),
            cwd: this.layout.dir,
            changed: () => this.persist(),
        });
    }

    private dnsName(pod: string): string {
        return podDnsName(
            {
                statefulSet: this.statefulSet.metadata.name,
                headlessService: this.statefulSet.spec.serviceName,
                namespace: this.config.namespace,
                clusterDomain: this.config.clusterDomain,
            },
            pod,
        );
    }

    /** The pods that exist get a record (not-ready ones too: the headless Service publishes them). */
    private writeHosts(): void {
        const lines = [...this.pods.values()].map((p) => `${this.dnsName(p.name)} ${p.address}\n`);
        writePrivate(this.layout.hosts, lines.join(""));
    }

    /** Records every pod's address and processes in pods.json (DIR removed under a running supervisor: nothing to record in). */
    private persist(): void {
        if (!fs.existsSync(this.layout.dir)) return;
        const pods: PodRecord[] = this.podNames.map((name) => ({
            name,
            address: this.pods.get(name)?.address ?? (this.addresses.get(name) as string),
            processes: this.pods.get(name)?.processes() ?? [],
        }));
        if (this.app) pods.push({ name: this.app.name, address: this.app.address, processes: this.app.processes() });
        writePods(this.layout, { supervisor: recordProcess(process.pid), pods, lastAddress: this.lastAddress, appUrl: this.appUrl });
    }

    async handle(r: Request): Promise<unknown> {
        if (this.stopped && r.verb !== "status") throw new Error(`the supervisor of ${this.layout.dir} is stopping`);
        switch (r.verb) {
            case "status":
                return this.status();
            case "kill":
                return this.kill(r.pod, r.container);
            case "delete":
                return this.serialized(r.pod, () => this.replace(r.pod));
            case "freeze":
            case "thaw":
                return this.serialized(r.pod, async () => this.freezeOrThaw(r.verb, r.pod));
            case "roll":
                return this.roll();
            case "scale":
                return this.scale(r.replicas);
            case "start-app":
                return this.startApp();
            case "sync-secrets":
                return this.syncSecrets();
            case "restarts":
                return this.pod(r.pod).restartsLog;
            case "stop":
                setImmediate(() => void this.stop().then(() => this.onStopped?.()));
                return { stopping: this.layout.dir };
        }
    }

    /** Called once `stop` finished (the detached supervisor exits then). */
    onStopped?: () => void;

    /** Verbs on one pod run one after another. */
    private serialized<T>(pod: string, f: () => Promise<T>): Promise<T> {
        this.pod(pod);
        const previous = this.podQueue.get(pod) ?? Promise.resolve();
        const next = previous.catch(() => undefined).then(f);
        this.podQueue.set(pod, next);
        return next;
    }

    /** The pod named `name`, or a refusal naming the pods there are. */
    private pod(name: string): LocalPod {
        const known = [...this.podNames, ...(this.app ? [this.app.name] : [])];
        if (!known.includes(name))
            throw new Error(`pod: no pod named ${JSON.stringify(name)} in ${this.layout.dir}; its pods: ${known.join(", ")}`);
        const pod = name === this.app?.name ? this.app : this.pods.get(name);
        if (!pod || this.replacing.has(name))
            throw new Error(`pod ${name} is being replaced; try again once it is back (\`npm run local -- status\`)`);
        return pod;
    }

    private notFrozen(pod: LocalPod, verb: string): void {
        if (pod.isFrozen) throw new Error(`${verb}: pod ${pod.name} is frozen (a lost machine: its kubelet cannot act); thaw it first`);
    }

    private async kill(name: string, container?: string): Promise<KillResult> {
        const pod = this.pod(name);
        this.notFrozen(pod, "kill");
        const { container: killed, pid, at, restart } = await pod.kill(container);
        this.log(
            `kill: ${name} container ${killed} (pid ${pid}) SIGKILLed; restart ${restart.delayMs ? `in ${restart.delayMs} ms` : "at once"}`,
        );
        return {
            at,
            pod: name,
            container: killed,
            address: pod.address,
            pid,
            restartInMs: restart.delayMs,
            restarts: pod.status().restarts,
        };
    }

    /** SIGSTOP (or SIGCONT) of the whole pod, its kubelet included. */
    private freezeOrThaw(verb: "freeze" | "thaw", name: string): FreezeResult {
        const pod = this.pod(name);
        const at = Date.now();
        if (verb === "freeze") pod.freeze();
        else pod.thaw();
        this.log(`${verb}: ${name} (${pod.address})`);
        return { at, pod: name, address: pod.address };
    }

    /**
     * Graceful deletion and what the StatefulSet controller then does: the same pod name, its claim
     * and its data, a new address, fresh emptyDirs, restart count 0.
     */
    private async replace(name: string): Promise<DeleteResult> {
        if (this.app && name === this.app.name) throw new Error(`delete: the app pod is not part of the StatefulSet; use kill`);
        const t0 = Date.now();
        const old = this.pod(name);
        this.notFrozen(old, "delete");
        this.replacing.add(name);
        try {
            this.log(`delete: ${name} (${old.address}): preStop, SIGTERM, grace period ${old.spec.terminationGracePeriodMs} ms`);
            await old.terminate();
            const terminatedAfterMs = Date.now() - t0;
            this.pods.delete(name);
            this.writeHosts();
            fs.rmSync(this.layout.podDir(name), { recursive: true, force: true });
            await sleep(this.config.timings.podStartDelayMs);
            if (this.stopped) throw new Error(`delete: ${name} was not recreated: the supervisor is stopping`);
            const inUse = new Set([...this.pods.values()].map((p) => p.address).concat(old.address));
            const address = nextAddress(this.config.block, this.lastAddress ?? old.address, inUse);
            this.lastAddress = address;
            const pod = this.createPod(name, address);
            this.pods.set(name, pod);
            this.writeHosts();
            this.replacing.delete(name);
            await pod.start();
            this.persist();
            const recreatedAfterMs = Date.now() - t0;
            this.log(`delete: ${name} recreated at ${address} (was ${old.address}) after ${recreatedAfterMs} ms`);
            return { at: t0, pod: name, oldAddress: old.address, newAddress: address, terminatedAfterMs, recreatedAfterMs };
        } finally {
            this.replacing.delete(name);
        }
    }

    /** RollingUpdate: highest ordinal first; each pod is replaced only once all are Ready, and must be Ready before the next. */
    private async roll(): Promise<RollResult> {
        if (this.rolling) throw new Error("roll: a roll is already in progress");
        const frozen = [...this.pods.values()].filter((p) => p.isFrozen).map((p) => p.name);
        if (frozen.length > 0)
            throw new Error(`roll: ${frozen.join(", ")} frozen: a rolling update would wait for them forever; thaw first`);
        this.rolling = true;
        const steps: RollResult["steps"][number][] = [];
        try {
            for (const name of rollOrder(this.statefulSet.metadata.name, this.podNames)) {
                await this.waitReady(this.podNames, `roll: before replacing ${name}, every pod must be Ready`);
                const t0 = Date.now();
                const replaced = await this.serialized(name, () => this.replace(name));
                await this.waitReady([name], `roll: ${name} must be Ready before the next pod`);
                steps.push({ ...replaced, readyAfterMs: Date.now() - t0 });
                this.log(`roll: ${name} Ready at ${replaced.newAddress} after ${Date.now() - t0} ms`);
            }
            return { steps };
        } finally {
            this.rolling = false;
        }
    }

    /**
     * What the StatefulSet controller does when its replicas change (podManagementPolicy Parallel): the
     * pods beyond the new count are terminated together (their claims stay, persistentVolumeClaimRetentionPolicy
     * whenScaled Retain), missing ones are created at new addresses and started together. The kubelet's
     * part first: the ConfigMap DIR holds now (`scale` rendered it for the new shape: the surge pod's
     * name) replaces the mounted files of every pod, running or about to start.
     */
    private async scale(replicas: number): Promise<ScaleResult> {
        if (this.rolling) throw new Error("scale: a roll is in progress");
        if (!Number.isInteger(replicas) || replicas < 1) throw new Error(`scale: replicas must be a whole number >= 1, got ${replicas}`);
        this.configMap = readObjects(this.layout).configMap;
        this.materializeVolumes();
        const name = this.statefulSet.metadata.name;
        const removed = this.podNames
            .slice(replicas)
            .map((pod) => ({ pod, address: this.pods.get(pod)?.address ?? (this.addresses.get(pod) as string) }));
        await Promise.all(
            removed.map(({ pod }) =>
                this.serialized(pod, async () => {
                    await this.pods.get(pod)?.terminate();
                    this.pods.delete(pod);
                    this.addresses.delete(pod);
                    fs.rmSync(this.layout.podDir(pod), { recursive: true, force: true });
                }),
            ),
        );
        const added: { pod: string; address: string }[] = [];
        for (let i = this.podNames.length; i < replicas; i++) {
            const inUse = new Set([...this.pods.values()].map((p) => p.address));
            const address = nextAddress(this.config.block, this.lastAddress ?? initialAddress(this.config.block, 0), inUse);
            this.lastAddress = address;
            const pod = podName(name, i);
            this.pods.set(pod, this.createPod(pod, address));
            added.push({ pod, address });
        }
        this.podNames = Array.from({ length: replicas }, (_, i) => podName(name, i));
        this.writeHosts();
        writeJson(this.layout.objectFile("statefulset"), { ...this.statefulSet, spec: { ...this.statefulSet.spec, replicas } });
        await Promise.all(added.map(({ pod }) => (this.pods.get(pod) as LocalPod).start()));
        this.persist();
        this.log(
            `scale: ${replicas} pods (removed ${removed.map((r) => r.pod).join(", ") || "none"}; added ${added.map((a) => a.pod).join(", ") || "none"})`,
        );
        return { removed, added };
    }

    private waitReady(names: readonly string[], what: string): Promise<void> {
        return waitUntil(
            what,
            () => {
                if (this.stopped) throw new Error(`${what}: the supervisor is stopping`);
                const notReady = names.filter((n) => !this.pods.get(n)?.status().ready);
                return notReady.length
                    ? `not Ready: ${notReady.map((n) => `${n} (${notReadyBecause(this.pods.get(n)?.status())})`).join(", ")}`
                    : undefined;
            },
            { timeoutMs: ROLL_READY_TIMEOUT_MS, intervalMs: 100 },
        );
    }

    /** Starts the hit counter (once) and resolves when its /readyz answers 200. */
    private async startApp(): Promise<{ url: string }> {
        if (!this.app) {
            const port = await pickAppPort(this.config.app.port);
            const spec = appPodSpec({
                bundle: this.layout.appBundle,
                port,
                metricsPort: await anyFreePort(),
                access: accessOf(this.layout, this.config, APP_USER),
                passwordFile: path.join(this.layout.volume(USERS_VOLUME), APP_USER),
                caFile: this.config.tls ? path.join(this.layout.volume(TLS_VOLUME), TLS_FILES.ca) : undefined,
                waitReplicas: this.config.app.waitReplicas,
                baseEnv: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
                readinessPeriodMs: 1000,
            });
            this.app = new LocalPod(spec, {
                timings: this.config.timings,
                logFile: this.layout.log(spec.name),
                cwd: this.layout.dir,
                changed: () => this.persist(),
                // The seeds are the members' current addresses at each start, as their DNS names would resolve.
                envAtStart: () => ({
                    REDIS_NODES: [...this.pods.values()]
                        .filter((p) => p.name !== this.surgePod())
                        .map((p) => redisEndpoint(p.address))
                        .join(","),
                }),
            });
            this.appUrl = `http://127.0.0.1:${port}`;
            await this.app.start();
            this.persist();
        }
        const app = this.app;
        await waitUntil(
            `the hit counter at ${this.appUrl}`,
            () => (app.status().ready ? undefined : `not ready; see ${this.layout.log(app.name)}`),
            { timeoutMs: APP_READY_TIMEOUT_MS, intervalMs: 100 },
        );
        return { url: this.appUrl as string };
    }

    async status(): Promise<StatusView> {
        const transport = new DirectTransport(this.access, 1000);
        try {
            const views = await Promise.all(
                this.podNames.map(async (name): Promise<PodView> => {
                    const pod = this.pods.get(name);
                    const surge = name === this.surgePod() ? { surge: true } : {};
                    if (!pod) return { ...replacingView(name, this.addresses.get(name) as string), ...surge };
                    return { ...pod.status(), ...(await redisView(pod, transport, this.addresses)), ...surge };
                }),
            );
            // The cluster's state is its members': an idle surge pod is a node of no cluster (cluster_state fail).
            const states = views
                .filter((v) => !v.surge)
                .map((v) => v.clusterState)
                .filter((s): s is string => s !== undefined);
            const app = this.app?.status();
            return {
                dir: this.layout.dir,
                supervisorPid: process.pid,
                pods: views,
                clusterState: states.length === 0 ? "unknown" : (states.find((s) => s !== "ok") ?? "ok"),
                app:
                    app && this.appUrl
                        ? ({ url: this.appUrl, ready: app.ready, restarts: app.restarts, phase: app.phase } satisfies AppView)
                        : undefined,
            };
        } finally {
            await transport.close();
        }
    }

    /** Stops the app, then every pod (gracefully, in parallel), then serving; releases the lock. */
    stop(): Promise<void> {
        if (!this.stopped) {
            this.stopped = (async () => {
                this.log(`supervisor ${process.pid}: stopping every pod`);
                await this.app?.terminate();
                await Promise.all([...this.pods.values()].map((p) => p.terminate()));
                await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
                this.persist();
                fs.rmSync(this.layout.socket, { force: true });
                releaseLock(this.layout);
                this.log(`supervisor ${process.pid}: stopped`);
            })();
        }
        return this.stopped;
    }
}

function hostOf(address: string): number {
    return Number(address.split(".")[3]);
}
