/**
 * The state directory of one local cluster (DIR): where each piece lives, and the rules that keep
 * it private. DIR holds only what the runtime writes: a directory with anything else in it is
 * refused, so a mistyped `--dir` never adopts someone's files (or a planted password) and
 * cleanup never deletes what the runtime did not create. Directories are 0700, files 0600.
 */
import * as fs from "fs";
import * as path from "path";

/** First file written into DIR; its presence says the directory is a local cluster's. */
export const MARKER = ".redis-cluster-gke-local";

/** Every top-level name the runtime may create in DIR. */
export const STATE_ENTRIES = [
    MARKER,
    "cluster.json",
    "secrets.json",
    "objects",
    "volumes",
    "pvc",
    "pods",
    "dns",
    "logs",
    "app",
    "pods.json",
    "supervisor.pid",
    "supervisor.sock",
] as const;

/** Paths inside one DIR. */
export class Layout {
    readonly dir: string;
    constructor(dir: string) {
        this.dir = path.resolve(dir);
    }
    get marker(): string {
        return path.join(this.dir, MARKER);
    }
    /** What `up` chose: shape, timings, block (see ClusterConfig). */
    get config(): string {
        return path.join(this.dir, "cluster.json");
    }
    /** The Secrets' data (the password), as Kubernetes keeps them apart from the rest. */
    get secrets(): string {
        return path.join(this.dir, "secrets.json");
    }
    /** The rendered objects the supervisor runs: what `kubectl apply` would have sent. */
    objectFile(kind: "statefulset" | "configmap"): string {
        return path.join(this.dir, "objects", `${kind}.json`);
    }
    /** A ConfigMap or Secret volume, materialized once (read-only for every pod). */
    volume(name: string): string {
        return path.join(this.dir, "volumes", name);
    }
    /** A pod's PersistentVolumeClaim: its data survives deletion and `down`. */
    claim(claimName: string, pod: string): string {
        return path.join(this.dir, "pvc", `${claimName}-${pod}`);
    }
    /** A pod's emptyDir volumes: they live as long as the pod (a container restart keeps them, a deletion wipes them). */
    podDir(pod: string): string {
        return path.join(this.dir, "pods", pod);
    }
    emptyDir(pod: string, volume: string): string {
        return path.join(this.podDir(pod), volume);
    }
    /** The runtime's cluster DNS: `name address` lines, and the resolver node-start.sh calls. */
    get hosts(): string {
        return path.join(this.dir, "dns", "hosts");
    }
    get resolver(): string {
        return path.join(this.dir, "dns", "resolve.sh");
    }
    log(pod: string): string {
        return path.join(this.dir, "logs", `${pod}.log`);
    }
    get supervisorLog(): string {
        return this.log("supervisor");
    }
    get appBundle(): string {
        return path.join(this.dir, "app", "server.js");
    }
    /** Pods, their addresses and the pids of their processes, so `down` works even after the supervisor died. */
    get pods(): string {
        return path.join(this.dir, "pods.json");
    }
    get lock(): string {
        return path.join(this.dir, "supervisor.pid");
    }
    get socket(): string {
        return path.join(this.dir, "supervisor.sock");
    }
}

export class StateDirError extends Error {}

/** One of the runtime's entries, or a temporary file of writePrivate left by a crash. */
function isStateEntry(name: string): boolean {
    return (STATE_ENTRIES as readonly string[]).includes(name.replace(TMP_SUFFIX, ""));
}

const TMP_SUFFIX = /\.\d+\.tmp$/;

/** Why `dir` cannot hold a local cluster's state, or undefined when it can (absent, empty, or already ours). */
export function stateDirProblem(dir: string): string | undefined {
    if (!fs.existsSync(dir)) return undefined;
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) return `${dir} exists and is not a directory`;
    if (typeof process.getuid === "function" && st.uid !== process.getuid()) {
        return `${dir} belongs to another user (uid ${st.uid}); use a directory of your own`;
    }
    if (st.mode & 0o022) {
        return `${dir} is writable by other users (mode ${(st.mode & 0o777).toString(8)}); others could plant files in it. Use a private directory (chmod 700)`;
    }
    const entries = fs.readdirSync(dir);
    if (entries.length === 0) return undefined;
    const foreign = entries.filter((e) => !isStateEntry(e));
    if (!entries.includes(MARKER) || foreign.length > 0) {
        const shown = (foreign.length > 0 ? foreign : entries).slice(0, 5).join(", ");
        return `${dir} holds files that are not a local cluster's state (${shown}${foreign.length > 5 ? ", …" : ""}); use an empty or new directory`;
    }
    return undefined;
}

/** Creates DIR (0700) if needed and marks it as a local cluster's, after checking it holds nothing else. */
export function claimStateDir(dir: string): { layout: Layout; created: boolean } {
    const layout = new Layout(dir);
    const problem = stateDirProblem(layout.dir);
    if (problem) throw new StateDirError(`--dir: ${problem}`);
    const created = !fs.existsSync(layout.dir);
    fs.mkdirSync(layout.dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(layout.dir, 0o700);
    if (!fs.existsSync(layout.marker))
        writePrivate(layout.marker, "state of a local Redis Cluster (npm run local); safe to delete once it is down\n");
    return { layout, created };
}

/** Removes exactly the runtime's own entries from DIR, then DIR itself if it is empty and `removeDir`. */
export function removeState(dir: string, removeDir: boolean): string[] {
    const layout = new Layout(dir);
    if (!fs.existsSync(layout.dir)) return [];
    for (const entry of fs.readdirSync(layout.dir).filter(isStateEntry))
        fs.rmSync(path.join(layout.dir, entry), { recursive: true, force: true });
    const left = fs.readdirSync(layout.dir);
    if (removeDir && left.length === 0) fs.rmdirSync(layout.dir);
    return left;
}

/** mkdir -p with 0700 for every directory it creates. */
export function mkdirPrivate(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Writes a file readable by its owner only, atomically (a reader sees the old or the new content). */
export function writePrivate(file: string, content: string | Buffer): void {
    mkdirPrivate(path.dirname(file));
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, content, { mode: 0o600 });
    fs.renameSync(tmp, file);
}

export function writeJson(file: string, value: unknown): void {
    writePrivate(file, JSON.stringify(value, null, 2) + "\n");
}

export function readJson<T>(file: string): T | undefined {
    if (!fs.existsSync(file)) return undefined;
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
}
