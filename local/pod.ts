/**
 * One local pod, run as the kubelet runs it (thin shell; the decisions are in rules.ts):
 * init containers in order, then every container at once, each in its own process group (its
 * "cgroup": when the main process dies, what it forked dies with it); startup, liveness and
 * readiness probes on their periods; restart policy Always with the kubelet's back-off; graceful
 * termination (preStop, SIGTERM, grace period, SIGKILL). A frozen pod stands for a lost machine:
 * its processes are stopped (SIGSTOP) and so is its kubelet: no probe runs and nothing restarts
 * until it is thawed.
 */
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { setTimeout as sleep } from "timers/promises";
import { ProcessRecord, isAlive, processStartTicks, signalGroup } from "../lib/process";
import { HOOK_OUTPUT_LIMIT, execInContainer, runProbe } from "./containerExec";
import { mkdirPrivate } from "./layout";
import { LocalContainer, LocalHook, LocalPodSpec, LocalProbe } from "./podTemplate";
import { Backoff, KubeletTimings, NO_BACKOFF, restartDelay } from "./rules";

/** One restart as the kubelet decided it: when the container stopped, how long it waited, when it ran again. */
export interface RestartRecord {
    readonly container: string;
    readonly exitedAt: number;
    readonly exit: string;
    readonly delayMs: number;
    restartedAt?: number;
}

export interface ContainerStatus {
    readonly name: string;
    readonly pid?: number;
    readonly state: "running" | "waiting" | "terminated";
    readonly started: boolean;
    readonly ready: boolean;
    readonly restarts: number;
    /** ms until the pending restart (back-off), when waiting. */
    readonly restartInMs?: number;
    readonly lastExit?: string;
    /** Output of the last failed probe, while the container is not ready. */
    readonly notReadyBecause?: string;
}

export interface PodStatus {
    readonly name: string;
    readonly address: string;
    readonly phase: "Pending" | "Running" | "Terminating" | "Terminated";
    readonly frozen: boolean;
    readonly ready: boolean;
    readonly started: boolean;
    readonly restarts: number;
    readonly containers: readonly ContainerStatus[];
    readonly createdAt: number;
}

/** A running container's process, recorded so `down` can stop it even without the supervisor. */
export interface ContainerProcess extends ProcessRecord {
    readonly pod: string;
    readonly container: string;
}

export interface PodHost {
    readonly timings: KubeletTimings;
    /** The pod's log file (its containers' output and the kubelet's events). */
    readonly logFile: string;
    /** Working directory of the pod's processes. */
    readonly cwd: string;
    /** Called whenever a process starts or stops, so the records on disk stay current. */
    readonly changed: () => void;
    /** Env computed anew at each container start (e.g. the app's seeds: the pods' current addresses). */
    readonly envAtStart?: () => Record<string, string>;
}

class Container {
    record?: ContainerProcess;
    startedAt = 0;
    restarts = 0;
    backoff: Backoff = NO_BACKOFF;
    started = false;
    ready = false;
    lastExit?: string;
    lastProbeFailure?: string;
    restartAt?: number;
    restartTimer?: NodeJS.Timeout;
    /** The restart the kubelet owes this container (it waits for its back-off, or for a thaw). */
    pendingRestart?: RestartRecord;
    /** Bumped on every start and stop: a probe loop or exit handler of an older run does nothing. */
    generation = 0;
    exited: Promise<void> = Promise.resolve();
    constructor(readonly spec: LocalContainer) {}
}

export class LocalPod {
    private readonly containers: Container[];
    private phase: PodStatus["phase"] = "Pending";
    private frozen = false;
    /** How many times the pod was frozen: a probe that was in flight across a freeze has no result. */
    private freezes = 0;
    private initProcess?: number;
    readonly createdAt = Date.now();
    readonly restartsLog: RestartRecord[] = [];

    constructor(
        readonly spec: LocalPodSpec,
        private readonly host: PodHost,
    ) {
        this.containers = spec.containers.map((c) => new Container(c));
    }

    get name(): string {
        return this.spec.name;
    }
    get address(): string {
        return this.spec.address;
    }
    get isFrozen(): boolean {
        return this.frozen;
    }

    /** The kubelet's own lines in the pod's log. */
    event(line: string): void {
        try {
            mkdirPrivate(path.dirname(this.host.logFile));
            fs.appendFileSync(this.host.logFile, `[kubelet ${new Date().toISOString()}] pod ${this.name}: ${line}\n`, { mode: 0o600 });
        } catch {
            // A log line lost (DIR removed under a running supervisor) must not stop the kubelet's work.
        }
    }

    /** Runs the init containers to completion, then starts every container. */
    async start(): Promise<void> {
        this.event(`created at ${this.address}${this.spec.skipped.length ? `; not run locally: ${this.spec.skipped.join(", ")}` : ""}`);
        let initBackoff = NO_BACKOFF;
        for (const init of this.spec.initContainers) {
            for (;;) {
                if (this.phase !== "Pending") return;
                const code = await this.runToCompletion(init);
                if (code === 0) break;
                const { delayMs, next } = restartDelay(initBackoff, 0, this.host.timings);
                initBackoff = next;
                this.event(`init container ${init.name} exited with ${code}; retrying in ${delayMs} ms`);
                await sleep(delayMs);
            }
        }
        if (this.phase !== "Pending") return;
        this.phase = "Running";
        for (const c of this.containers) this.startContainer(c);
    }

    /** An init container: runs until it exits (stopped with the pod if the pod is deleted meanwhile). */
    private runToCompletion(spec: LocalContainer): Promise<number | null> {
        return new Promise((resolve) => {
            const child = this.spawn(spec);
            this.initProcess = child.pid;
            child.on("error", () => resolve(127));
            child.on("exit", (code) => {
                this.initProcess = undefined;
                resolve(code);
            });
        });
    }

    private spawn(spec: LocalContainer): ChildProcess {
        mkdirPrivate(path.dirname(this.host.logFile));
        const fd = fs.openSync(this.host.logFile, "a", 0o600);
        try {
            const env = { ...spec.env, ...this.host.envAtStart?.() };
            return spawn(spec.argv[0], spec.argv.slice(1), { detached: true, stdio: ["ignore", fd, fd], env, cwd: this.host.cwd });
        } finally {
            fs.closeSync(fd);
        }
    }

    private startContainer(c: Container): void {
        if (c.pendingRestart) c.pendingRestart.restartedAt = Date.now();
        c.pendingRestart = undefined;
        c.restartTimer = undefined;
        c.restartAt = undefined;
        c.started = !c.spec.startupProbe;
        c.ready = false;
        const generation = ++c.generation;
        const child = this.spawn(c.spec);
        c.startedAt = Date.now();
        if (child.pid !== undefined) {
            c.record = { pod: this.name, container: c.spec.name, pid: child.pid, startTicks: processStartTicks(child.pid) };
            this.event(`container ${c.spec.name} started, pid ${child.pid}${c.restarts ? ` (restart ${c.restarts})` : ""}`);
        }
        c.exited = new Promise((resolve) => {
            let done = false;
            const onExit = (how: string) => {
                if (done) return;
                done = true;
                this.onContainerExit(c, generation, how);
                resolve();
            };
            child.on("error", (e) => onExit(`failed to start: ${e.message}`));
            child.on("exit", (code, signal) => onExit(signal ? `killed by ${signal}` : `exited with code ${code}`));
        });
        this.host.changed();
        void this.runProbes(c, generation);
    }

    private onContainerExit(c: Container, generation: number, how: string): void {
        if (c.record) signalGroup(c.record.pid, "SIGKILL"); // what the process forked goes with it, as with a cgroup
        c.record = undefined;
        c.started = false;
        c.ready = false;
        c.lastExit = how;
        this.host.changed();
        if (generation !== c.generation) return;
        c.generation++;
        if (this.phase !== "Running") {
            this.event(`container ${c.spec.name} ${how}`);
            return;
        }
        const now = Date.now();
        const { delayMs, next } = restartDelay(c.backoff, now - c.startedAt, this.host.timings);
        c.backoff = next;
        c.restarts++;
        const record: RestartRecord = { container: c.spec.name, exitedAt: now, exit: how, delayMs };
        this.restartsLog.push(record);
        this.event(`container ${c.spec.name} ${how}; restart ${c.restarts} ${delayMs ? `in ${delayMs} ms (back-off)` : "at once"}`);
        this.scheduleRestart(c, delayMs, record);
    }

    private scheduleRestart(c: Container, delayMs: number, record: RestartRecord): void {
        c.pendingRestart = record;
        c.restartAt = record.exitedAt + delayMs;
        const due = () => {
            const early = (c.restartAt ?? 0) - Date.now();
            // Timers may fire a millisecond early on the wall clock: the back-off is never cut short.
            if (early > 0) return void (c.restartTimer = setTimeout(due, early));
            c.restartTimer = undefined;
            // A frozen kubelet restarts nothing: thaw() does it then.
            if (this.phase === "Running" && !this.frozen) this.startContainer(c);
        };
        c.restartTimer = setTimeout(due, delayMs);
    }

    /** Startup probe until it passes, then liveness and readiness, each on its own period. */
    private async runProbes(c: Container, generation: number): Promise<void> {
        const live = () => generation === c.generation && this.phase === "Running";
        const scale = this.host.timings.probePeriodScale;
        const startup = c.spec.startupProbe;
        if (startup) {
            let failures = 0;
            await sleep(startup.initialDelayMs);
            while (live() && !c.started) {
                if (!this.frozen) {
                    const ok = await this.probe(c, startup, "startup");
                    if (ok) c.started = true;
                    else if (ok === false && ++failures >= startup.failureThreshold)
                        return this.failLiveness(c, generation, "startup probe failed");
                }
                if (!c.started) await sleep(startup.periodMs * scale);
            }
            if (!live()) return;
            this.event(`container ${c.spec.name} started (startup probe passed)`);
        }
        const loops: Promise<void>[] = [];
        if (c.spec.readinessProbe) loops.push(this.readinessLoop(c, c.spec.readinessProbe, live));
        else c.ready = true;
        if (c.spec.livenessProbe) loops.push(this.livenessLoop(c, c.spec.livenessProbe, generation, live));
        await Promise.all(loops);
    }

    private async readinessLoop(c: Container, p: LocalProbe, live: () => boolean): Promise<void> {
        // The kubelet probes readiness at once when a started container has no result yet.
        let failures = 0;
        let successes = 0;
        while (live()) {
            if (!this.frozen) {
                const ok = await this.probe(c, p, "readiness");
                if (!live()) return;
                if (ok === undefined) {
                    // Frozen meanwhile: no result.
                } else if (ok) {
                    failures = 0;
                    if (++successes >= p.successThreshold && !c.ready) {
                        c.ready = true;
                        this.event(`container ${c.spec.name} ready`);
                    }
                } else {
                    successes = 0;
                    if (++failures >= p.failureThreshold && c.ready) {
                        c.ready = false;
                        this.event(`container ${c.spec.name} not ready`);
                    }
                }
            }
            await sleep(p.periodMs * this.host.timings.probePeriodScale);
        }
    }

    private async livenessLoop(c: Container, p: LocalProbe, generation: number, live: () => boolean): Promise<void> {
        let failures = 0;
        await sleep(p.initialDelayMs);
        while (live()) {
            await sleep(p.periodMs * this.host.timings.probePeriodScale);
            if (!live() || this.frozen) continue;
            const ok = await this.probe(c, p, "liveness");
            if (ok) failures = 0;
            else if (ok === false && ++failures >= p.failureThreshold) return this.failLiveness(c, generation, "liveness probe failed");
        }
    }

    /** A failed startup or liveness probe: the kubelet stops the container gracefully and restarts it. */
    private async failLiveness(c: Container, generation: number, why: string): Promise<void> {
        if (generation !== c.generation || !c.record) return;
        this.event(`container ${c.spec.name}: ${why}; restarting it`);
        await this.stopContainer(c, this.spec.terminationGracePeriodMs);
    }

    /**
     * Runs one probe; true when it passed, undefined when the pod was frozen while it ran: the kubelet is
     * frozen with its pod (a lost machine), so it never sees the end of a probe it had in flight, whereas
     * here the probe's process runs on and would time out against the stopped redis-server. Its output
     * goes to the pod's log only when it fails.
     */
    private async probe(c: Container, p: LocalProbe, kind: string): Promise<boolean | undefined> {
        const freezesBefore = this.freezes;
        const { passed, output } = await runProbe(p, { address: this.address, env: c.spec.env, cwd: this.host.cwd });
        if (this.frozen || this.freezes !== freezesBefore) return undefined;
        if (!passed) {
            c.lastProbeFailure = `${kind}: ${output}`;
            if (kind !== "startup") this.event(`${kind} probe of ${c.spec.name} failed: ${c.lastProbeFailure}`);
        }
        return passed;
    }

    /** preStop (bounded by the grace period), SIGTERM, the rest of the grace period, SIGKILL. */
    private async stopContainer(c: Container, graceMs: number): Promise<void> {
        const record = c.record;
        if (!record) return;
        const deadline = Date.now() + graceMs;
        if (c.spec.preStop) {
            this.event(`container ${c.spec.name}: running preStop`);
            await Promise.race([this.runHook(c.spec, c.spec.preStop, graceMs), c.exited, sleep(graceMs)]);
        }
        if (c.record === record) {
            signalGroup(record.pid, "SIGTERM");
            await Promise.race([c.exited, sleep(Math.max(0, deadline - Date.now()))]);
        }
        if (c.record === record) {
            this.event(`container ${c.spec.name} still running after the ${graceMs} ms grace period: SIGKILL`);
            signalGroup(record.pid, "SIGKILL");
            await c.exited;
        }
    }

    private async runHook(spec: LocalContainer, hook: LocalHook, timeoutMs: number): Promise<void> {
        if ("sleepMs" in hook) return sleep(hook.sleepMs).then(() => undefined);
        const started = Date.now();
        const { code, output } = await execInContainer(hook.exec, { env: spec.env, cwd: this.host.cwd }, timeoutMs, HOOK_OUTPUT_LIMIT);
        // Kept in the pod's log whatever the outcome: what a handover did is part of the pod's story.
        this.event(`preStop of ${spec.name} exited with ${code} after ${Date.now() - started} ms${output ? `:\n${output}` : ""}`);
    }

    private containerNamed(name: string | undefined): Container {
        const c = name === undefined ? this.containers[0] : this.containers.find((x) => x.spec.name === name);
        if (!c)
            throw new Error(
                `container: pod ${this.name} has no container ${name}; its containers: ${this.containers.map((x) => x.spec.name).join(", ")}`,
            );
        return c;
    }

    /** SIGKILL of a container's processes, as a crash: the kubelet restarts it per its back-off. */
    async kill(containerName?: string): Promise<{ container: string; pid: number; at: number; restart: RestartRecord }> {
        const c = this.containerNamed(containerName);
        const record = c.record;
        if (!record || this.phase !== "Running") {
            throw new Error(
                `pod ${this.name}: container ${c.spec.name} is not running${c.restartAt ? ` (it restarts in ${c.restartAt - Date.now()} ms)` : ""}`,
            );
        }
        this.event(`container ${c.spec.name}: SIGKILL (requested)`);
        const at = Date.now();
        signalGroup(record.pid, "SIGKILL");
        await c.exited;
        return { container: c.spec.name, pid: record.pid, at, restart: this.restartsLog[this.restartsLog.length - 1] };
    }

    /** SIGSTOP of every process of the pod; its kubelet stops probing and restarting too. */
    freeze(): void {
        if (this.frozen) throw new Error(`pod ${this.name} is already frozen`);
        this.frozen = true;
        this.freezes++;
        for (const c of this.containers) if (c.record) signalGroup(c.record.pid, "SIGSTOP");
        this.event("frozen (SIGSTOP): its processes and its kubelet stop, as on a lost machine");
    }

    thaw(): void {
        if (!this.frozen) throw new Error(`pod ${this.name} is not frozen; nothing to thaw`);
        for (const c of this.containers) if (c.record) signalGroup(c.record.pid, "SIGCONT");
        this.frozen = false;
        this.event("thawed (SIGCONT)");
        // A restart that fell due while frozen happens now.
        for (const c of this.containers) if (c.pendingRestart && !c.restartTimer && this.phase === "Running") this.startContainer(c);
    }

    /** Graceful deletion: every container stops (preStop, SIGTERM, grace, SIGKILL) and nothing restarts. */
    async terminate(graceMs = this.spec.terminationGracePeriodMs): Promise<void> {
        if (this.phase === "Terminated") return;
        if (this.frozen) this.thaw();
        this.phase = "Terminating";
        this.event(`terminating (grace period ${graceMs} ms)`);
        if (this.initProcess) signalGroup(this.initProcess, "SIGKILL");
        for (const c of this.containers) if (c.restartTimer) clearTimeout(c.restartTimer);
        await Promise.all(this.containers.map((c) => this.stopContainer(c, graceMs)));
        this.phase = "Terminated";
        this.event("terminated");
        this.host.changed();
    }

    /** Records of every running process of the pod. */
    processes(): ContainerProcess[] {
        return this.containers.map((c) => c.record).filter((r): r is ContainerProcess => r !== undefined && isAlive(r.pid));
    }

    status(): PodStatus {
        const containers = this.containers.map((c): ContainerStatus => ({
            name: c.spec.name,
            pid: c.record?.pid,
            state: c.record ? "running" : this.phase === "Running" || this.phase === "Pending" ? "waiting" : "terminated",
            started: c.started,
            ready: c.ready,
            restarts: c.restarts,
            restartInMs: !c.record && c.restartAt !== undefined ? Math.max(0, c.restartAt - Date.now()) : undefined,
            lastExit: c.lastExit,
            notReadyBecause: c.ready ? undefined : c.lastProbeFailure,
        }));
        return {
            name: this.name,
            address: this.address,
            phase: this.phase,
            frozen: this.frozen,
            ready: !this.frozen && this.phase === "Running" && containers.every((c) => c.ready),
            started: this.phase === "Running" && containers.every((c) => c.started),
            restarts: containers.reduce((n, c) => n + c.restarts, 0),
            containers,
            createdAt: this.createdAt,
        };
    }
}
