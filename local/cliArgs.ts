/**
 * The local CLI's arguments: commands, flags (each with the commands it applies to) and one POD
 * argument for the pod verbs. Pure: every mistake is a UsageError naming the flag or argument and
 * what is allowed.
 */
import * as path from "path";
import { MAX_REPLICAS_PER_MASTER, MIN_MASTERS, statefulSetReplicas, surgeApplies } from "../components/shape";
import { KubeletTimings, PODS_PER_BLOCK } from "./rules";
import { ACL_USERS } from "../components/redis/acl";

export const COMMANDS = [
    "demo",
    "up",
    "down",
    "status",
    "scale",
    "kill",
    "delete",
    "freeze",
    "thaw",
    "roll",
    "logs",
    "drill",
    "rotate-password",
    "chaos",
] as const;
export type Command = (typeof COMMANDS)[number];
const POD_COMMANDS: readonly Command[] = ["kill", "delete", "freeze", "thaw", "logs"];

interface FlagSpec {
    readonly name: keyof CliValues;
    readonly help: string;
    readonly commands: readonly Command[];
    readonly int?: readonly [number, number];
    readonly number?: readonly [number, number];
    readonly boolean?: true;
}

interface CliValues {
    masters?: number;
    replicas?: number;
    dir?: string;
    block?: number;
    appPort?: number;
    nodeTimeoutMs?: number;
    noHandover?: boolean;
    noTakeover?: boolean;
    noSurge?: boolean;
    backoffInitialMs?: number;
    backoffMaxMs?: number;
    podStartDelayMs?: number;
    probePeriodScale?: number;
    container?: string;
    json?: boolean;
    delete?: boolean;
    freeze?: boolean;
    clients?: number;
    tls?: boolean;
    user?: string;
    duration?: number;
    seed?: number;
}

export interface CliOptions extends CliValues {
    readonly command: Command;
    readonly dir: string;
    readonly pod?: string;
    /** demo without --dir: a private temporary directory it creates (and removes). */
    readonly temporaryDir: boolean;
}

const STARTING: readonly Command[] = ["demo", "up"];
const FLAGS: Record<string, FlagSpec> = {
    "--dir": { name: "dir", help: "state directory (default .local/cluster; demo: a new private temporary one)", commands: COMMANDS },
    "--masters": {
        name: "masters",
        help: `masters, integer >= ${MIN_MASTERS} (default 3; scale: the new number)`,
        int: [MIN_MASTERS, PODS_PER_BLOCK],
        commands: [...STARTING, "scale"],
    },
    "--replicas": {
        name: "replicas",
        help: `replicas per master, integer 0-${MAX_REPLICAS_PER_MASTER} (default 1; scale: the new number)`,
        int: [0, MAX_REPLICAS_PER_MASTER],
        commands: [...STARTING, "scale"],
    },
    "--block": { name: "block", help: "loopback block: pods on 127.0.<block>.11+ (default 1)", int: [0, 255], commands: STARTING },
    "--app-port": {
        name: "appPort",
        help: "hit-counter port on 127.0.0.1 (default: 8080 if free, else any free port)",
        int: [1, 65535],
        commands: STARTING,
    },
    "--node-timeout-ms": {
        name: "nodeTimeoutMs",
        help: "cluster-node-timeout in ms (default: the project default)",
        int: [500, 120000],
        commands: STARTING,
    },
    "--no-handover": {
        name: "noHandover",
        help: "pods without the preStop handover (redis:handover false): a stopping master stops at once",
        boolean: true,
        commands: STARTING,
    },
    "--no-takeover": {
        name: "noTakeover",
        help: "pods without the failover agent (redis:takeover false): only Redis's own failure detection",
        boolean: true,
        commands: STARTING,
    },
    "--no-surge": {
        name: "noSurge",
        help: "no surge pod (redis:surgeReplica false; default: one more pod with 1 replica per master, kept by a DIR)",
        boolean: true,
        commands: STARTING,
    },
    "--backoff-initial-ms": {
        name: "backoffInitialMs",
        help: "kubelet: delay of the 2nd restart of a crashing container, doubling after (default 10000)",
        int: [0, 3600000],
        commands: STARTING,
    },
    "--backoff-max-ms": {
        name: "backoffMaxMs",
        help: "kubelet: cap of the restart delay (default 300000)",
        int: [0, 3600000],
        commands: STARTING,
    },
    "--pod-start-delay-ms": {
        name: "podStartDelayMs",
        help: "from a deleted pod's end to its replacement's start (default 5000)",
        int: [0, 600000],
        commands: STARTING,
    },
    "--probe-period-scale": {
        name: "probePeriodScale",
        help: "multiplies the template's probe periods (default 1)",
        number: [0.01, 10],
        commands: STARTING,
    },
    "--tls": {
        name: "tls",
        help: "TLS on every link, as on Kubernetes: a new CA and certificate in DIR (a DIR keeps its choice)",
        boolean: true,
        commands: STARTING,
    },
    "--container": { name: "container", help: "kill: the container (default: the pod's first, redis)", commands: ["kill"] },
    "--json": { name: "json", help: "status: one JSON document", boolean: true, commands: ["status"] },
    "--delete": {
        name: "delete",
        help: "drill: delete the master's pod (it comes back at a new address) instead of SIGKILL",
        boolean: true,
        commands: ["drill"],
    },
    "--freeze": {
        name: "freeze",
        help: "drill: freeze the master's pod until a replica took over (a lost machine), then thaw it",
        boolean: true,
        commands: ["drill"],
    },
    "--clients": { name: "clients", help: "drill, chaos: concurrent clients (default 4)", int: [1, 64], commands: ["drill", "chaos"] },
    "--user": {
        name: "user",
        help: `rotate-password: the ACL user whose password changes, one of ${ACL_USERS.join(", ")} (default: every user)`,
        commands: ["rotate-password"],
    },
    "--duration": { name: "duration", help: "chaos: seconds of faults (required)", int: [1, 86400], commands: ["chaos"] },
    "--seed": {
        name: "seed",
        help: "chaos: the seed of the fault schedule (required; the same seed, the same faults)",
        int: [0, 2147483647],
        commands: ["chaos"],
    },
};

export class UsageError extends Error {}

export function usage(): string {
    return [
        "usage: npm run demo",
        "       npm run local -- up|down|status|roll|drill|rotate-password [flags]",
        "       npm run local -- chaos --duration S --seed N [flags]",
        "       npm run local -- scale --masters N --replicas R [--dir DIR]",
        "       npm run local -- kill|delete|freeze|thaw|logs POD [flags]",
        "flags:",
        ...Object.entries(FLAGS).map(([flag, f]) => `  ${flag.padEnd(22)} ${f.help}`),
    ].join("\n");
}

function parseValue(flag: string, spec: FlagSpec, raw: string): string | number {
    if (spec.int) {
        const [min, max] = spec.int;
        if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max)
            throw new UsageError(`${flag}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
        return Number(raw);
    }
    if (spec.number) {
        const [min, max] = spec.number;
        if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) < min || Number(raw) > max)
            throw new UsageError(`${flag}: expected a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
        return Number(raw);
    }
    return raw;
}

/** argv (after the script name) -> validated options; every mistake names the flag or argument and what is allowed. Pure. */
export function parseArgs(argv: readonly string[]): CliOptions {
    const [command, ...rest] = argv;
    if (!COMMANDS.includes(command as Command)) {
        throw new UsageError(
            `command: expected one of ${COMMANDS.join(", ")}, got ${command === undefined ? "nothing" : JSON.stringify(command)}`,
        );
    }
    const cmd = command as Command;
    const values: Record<string, string | number | boolean> = {};
    const positional: string[] = [];
    for (let i = 0; i < rest.length; i++) {
        if (!rest[i].startsWith("--")) {
            positional.push(rest[i]);
            continue;
        }
        const [flag, inline] = rest[i].split(/=(.*)/s, 2);
        const spec = FLAGS[flag];
        if (!spec) throw new UsageError(`unknown flag ${JSON.stringify(flag)}; allowed: ${Object.keys(FLAGS).join(", ")}`);
        if (!spec.commands.includes(cmd)) throw new UsageError(`${flag}: not a flag of ${cmd} (it applies to ${spec.commands.join(", ")})`);
        if (spec.boolean) {
            if (inline !== undefined) throw new UsageError(`${flag}: takes no value`);
            values[spec.name] = true;
            continue;
        }
        const raw = inline ?? rest[++i];
        if (raw === undefined || raw === "") throw new UsageError(`${flag}: a value is required (${spec.help})`);
        values[spec.name] = parseValue(flag, spec, raw);
    }
    const needsPod = POD_COMMANDS.includes(cmd);
    if (needsPod && positional.length !== 1)
        throw new UsageError(
            `${cmd}: expected one POD name (e.g. redis-0), got ${positional.length === 0 ? "none" : positional.join(" ")}`,
        );
    if (!needsPod && positional.length > 0) throw new UsageError(`${cmd}: takes no POD argument, got ${positional.join(" ")}`);
    const v = values as CliValues;
    const shape = { masters: v.masters ?? MIN_MASTERS, replicasPerMaster: v.replicas ?? 1 };
    // Every pod of the StatefulSet needs an address, the surge pod too (scale: a DIR's --no-surge is not known here).
    const pods = statefulSetReplicas(shape, surgeApplies(shape) && !v.noSurge);
    if (pods > PODS_PER_BLOCK) {
        throw new UsageError(`--masters/--replicas: ${pods} pods do not fit in one loopback block (at most ${PODS_PER_BLOCK})`);
    }
    if (v.delete && v.freeze) throw new UsageError("--delete, --freeze: choose one disruption");
    if (v.user !== undefined && !(ACL_USERS as readonly string[]).includes(v.user)) {
        throw new UsageError(`--user: expected one of ${ACL_USERS.join(", ")}, got ${JSON.stringify(v.user)}`);
    }
    if (cmd === "chaos" && (v.duration === undefined || v.seed === undefined))
        throw new UsageError(
            `chaos: --duration and --seed are required (e.g. --duration 60 --seed 1); missing ${v.duration === undefined ? "--duration" : "--seed"}`,
        );
    if (cmd === "scale" && v.masters === undefined && v.replicas === undefined)
        throw new UsageError("scale: give --masters, --replicas or both (the new shape)");
    const temporaryDir = cmd === "demo" && v.dir === undefined;
    return {
        ...v,
        command: cmd,
        pod: needsPod ? positional[0] : undefined,
        temporaryDir,
        dir: path.resolve(v.dir ?? (temporaryDir ? "" : path.join(".local", "cluster"))),
    };
}

/** The kubelet timings given as flags (the others come from DIR or the defaults). */
export function kubeletTimings(o: CliOptions): Partial<KubeletTimings> {
    const t: Partial<Record<keyof KubeletTimings, number>> = {
        backoffInitialMs: o.backoffInitialMs,
        backoffMaxMs: o.backoffMaxMs,
        podStartDelayMs: o.podStartDelayMs,
        probePeriodScale: o.probePeriodScale,
    };
    return Object.fromEntries(Object.entries(t).filter(([, value]) => value !== undefined));
}
