/**
 * The Redis ACL users of the cluster, Pulumi-free and pure: who they are, what each may run, the
 * rules their passwords must follow, the secret-free ACL template every pod's start script turns
 * into its `aclfile`, and the plan of a password rotation. The manifests, the start script, the
 * local runtime, the dynamic provider and the policy pack all read them from here.
 *
 * `default` is off: a connection that has not authenticated can run nothing (AUTH and HELLO only).
 */
import * as crypto from "crypto";

/** The users, in the order the ACL file lists them. */
export const ACL_USERS = ["admin", "replication", "hitcounter", "client", "exporter"] as const;
export type AclUserName = (typeof ACL_USERS)[number];

/** The user in-pod scripts, the formation and operators connect as. */
export const ADMIN_USER: AclUserName = "admin";
/** The user replicas authenticate to their master with (`masteruser` / `masterauth`). */
export const REPLICATION_USER: AclUserName = "replication";
/** The hit counter's user. */
export const APP_USER: AclUserName = "hitcounter";
/** The user other applications (`redis:allowedClients`) connect as. */
export const CLIENT_USER: AclUserName = "client";
/** The metrics exporter's read-only user. */
export const EXPORTER_USER: AclUserName = "exporter";

/** The key the hit counter counts in (app/hits.ts HITS_KEY): its user may touch no other. */
export const APP_KEY_PATTERN = "hits";

/** Read-only views of the cluster every cluster client needs to find slot owners (ioredis: SLOTS; newer clients: SHARDS). */
const CLUSTER_DISCOVERY = ["+cluster|info", "+cluster|slots", "+cluster|shards", "+cluster|nodes", "+cluster|myid"];

/** One user: its rules (after `on`/`off` and the passwords) and why it has them. */
export interface AclUser {
    readonly name: AclUserName;
    /** ACL rules, in order; passwords are never here (the start script adds their hashes). */
    readonly rules: readonly string[];
    /** README / docs: who connects as it and why these rules. */
    readonly purpose: string;
}

/**
 * What each user may run. The exporter's are redis_exporter's documented ACL without its key commands
 * (GET, SCAN, TYPE, … serve --check-keys and key-value export, both off here) and without the
 * subcommands that change server state (SLOWLOG RESET, LATENCY RESET, CLIENT KILL). The hit counter's is exactly what app/ sends: INCRBY on `hits` and WAIT
 * (app/hits.ts), CLUSTER INFO (readiness), and what ioredis' Cluster sends on every connection
 * (CLUSTER SLOTS, INFO for its ready check, ASKING during a slot migration, PING, READONLY).
 */
export const ACL_RULES: Readonly<Record<AclUserName, AclUser>> = {
    admin: {
        name: "admin",
        rules: ["~*", "&*", "+@all"],
        purpose: "formation, scale-out, in-pod probes and scripts, operators: every command",
    },
    replication: {
        name: "replication",
        rules: ["resetkeys", "resetchannels", "-@all", "+psync", "+replconf", "+ping"],
        purpose: "replicas authenticate to their master (masteruser/masterauth): PSYNC, REPLCONF, PING only",
    },
    hitcounter: {
        name: "hitcounter",
        rules: [
            "resetkeys",
            `~${APP_KEY_PATTERN}`,
            "resetchannels",
            "-@all",
            "+incrby",
            "+get",
            "+wait",
            "+ping",
            "+info",
            "+asking",
            "+readonly",
            ...CLUSTER_DISCOVERY,
        ],
        purpose: `the hit counter: INCRBY/GET on the key \`${APP_KEY_PATTERN}\`, WAIT, and what a cluster client needs to find slot owners`,
    },
    client: {
        name: "client",
        rules: ["~*", "&*", "+@all", "-@admin", "-@dangerous", "+info", ...CLUSTER_DISCOVERY],
        purpose:
            "other applications (redis:allowedClients): data commands on every key; no administration and no dangerous commands (FLUSHALL, KEYS, CONFIG, DEBUG, SHUTDOWN …)",
    },
    exporter: {
        name: "exporter",
        rules: [
            "resetkeys",
            "resetchannels",
            "-@all",
            "+ping",
            "+info",
            "+config|get",
            "+client|list",
            "+client|info",
            "+client|setname",
            "+slowlog|get",
            "+slowlog|len",
            "+latency|latest",
            "+latency|histogram",
            "+memory|stats",
            "+select",
            "+cluster|info",
            "+cluster|nodes",
        ],
        purpose: "redis_exporter: INFO, CONFIG GET, CLUSTER INFO, SLOWLOG, LATENCY; no key is readable or writable",
    },
};

/** The `default` user's line: off, no password, no command, no key. */
export const DEFAULT_USER_RULES = ["off", "resetpass", "resetkeys", "resetchannels", "-@all"] as const;

/**
 * The secret-free ACL template (ConfigMap `users.acl`): one `user <name> <rules>` line a user. The
 * start script (node-start.sh) adds each user's password hashes and writes the node's `aclfile`.
 */
export function renderAclTemplate(): string {
    const lines = [
        `user default ${DEFAULT_USER_RULES.join(" ")}`,
        ...ACL_USERS.map((u) => `user ${u} on resetpass ${ACL_RULES[u].rules.join(" ")}`),
    ];
    return lines.join("\n") + "\n";
}

// --- passwords ---------------------------------------------------------------------------------

export const MIN_PASSWORD_LENGTH = 16;
export const MAX_PASSWORD_LENGTH = 128;
/** Punctuation a password may hold: none that Redis' ACL parser, redis.conf quoting or a shell would read specially. */
export const PASSWORD_PUNCTUATION = "-_.~!@#$%^&*()+=,:;?/[]{}|";
const PASSWORD_CHAR = /^[A-Za-z0-9\-_.~!@#$%^&*()+=,:;?/[\]{}|]$/;

/** What a password must be (the config keys' `allowed` text and every error's suggestion). */
export const PASSWORD_RULE = `${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters: letters, digits and ${PASSWORD_PUNCTUATION} (no spaces, quotes, backslashes, backticks, < or >: Redis' ACL rules read '>' and '<' as password operators and split on spaces and quotes)`;

/** Why `password` cannot be a user's password (its value never shown), or undefined when it can. */
export function passwordProblem(password: string): string | undefined {
    if (password.length < MIN_PASSWORD_LENGTH) return `too short (${password.length} characters); use ${PASSWORD_RULE}`;
    if (password.length > MAX_PASSWORD_LENGTH) return `too long (${password.length} characters); use ${PASSWORD_RULE}`;
    const bad = [...password].find((c) => !PASSWORD_CHAR.test(c));
    if (bad !== undefined) {
        const shown = bad === " " ? "a space" : /[\x21-\x7e]/.test(bad) ? `'${bad}'` : `character code ${bad.charCodeAt(0)}`;
        return `holds ${shown}, which is not allowed; use ${PASSWORD_RULE}`;
    }
    return undefined;
}

/** How Redis stores a password (`#<sha256 hex>` in ACL rules and the aclfile): the only form that leaves a pod. */
export function passwordHash(password: string): string {
    return crypto.createHash("sha256").update(password, "utf8").digest("hex");
}

// --- rotation ----------------------------------------------------------------------------------

/** One user's password hashes as the cluster should accept them, before and after a change. */
export interface UserHashes {
    readonly [user: string]: string;
}

/** One command of a rotation phase, on every node. */
export type RotationCommand =
    | { readonly kind: "add"; readonly user: AclUserName; readonly hash: string }
    | { readonly kind: "masterauth" }
    | { readonly kind: "prune"; readonly user: AclUserName; readonly hash: string }
    | { readonly kind: "save" };

/**
 * A password rotation, in phases, each carried out on every node before the next starts:
 *  1. add      the new password next to the old one (`ACL SETUSER <u> #<new>`), saved to each node's
 *              aclfile (ACL SAVE), so a pod that restarts mid-rotation accepts both. It runs before the
 *              users Secret changes: in-pod scripts still authenticate with the old admin password;
 *  2. clients  the users Secret changes and the clients move to the new password (the app rolls; the
 *              local app re-reads its file; in-pod scripts read the updated Secret file);
 *  3. prune    once every node's own copy of the Secret holds the new passwords: masterauth (replication
 *              user) from that copy, then only the new password is left (`ACL SETUSER <u> resetpass
 *              #<new>`), the admin user last; saved.
 */
export interface RotationPlan {
    /** Users whose password changes. */
    readonly users: readonly AclUserName[];
    readonly add: readonly RotationCommand[];
    /** Users whose clients must move before the prune (none: nothing to wait for). */
    readonly clients: readonly AclUserName[];
    readonly prune: readonly RotationCommand[];
}

/** The rotation from `before` to `after` (user -> sha256 of its password). Users not in both are not rotated. */
export function planRotation(before: UserHashes, after: UserHashes): RotationPlan {
    const users = ACL_USERS.filter((u) => before[u] !== undefined && after[u] !== undefined && before[u] !== after[u]);
    const add: RotationCommand[] = users.map((user) => ({ kind: "add", user, hash: after[user] }));
    if (users.length > 0) add.push({ kind: "save" });
    // Replicas re-authenticate with the new replication password before the old one goes; the admin
    // user is the one the commands themselves run as: its old password goes last.
    const byAdminLast = [...users.filter((u) => u !== ADMIN_USER), ...users.filter((u) => u === ADMIN_USER)];
    const prune: RotationCommand[] = [
        ...(users.includes(REPLICATION_USER) ? [{ kind: "masterauth" } as const] : []),
        ...byAdminLast.map((user) => ({ kind: "prune", user, hash: after[user] }) as const),
    ];
    if (users.length > 0) prune.push({ kind: "save" });
    return { users, add, clients: users.filter((u) => u !== ADMIN_USER && u !== REPLICATION_USER), prune };
}

/**
 * The Redis command of one rotation step. `masterauth` needs the replication password itself, which
 * each transport supplies its own way (`replicationPassword`: the direct transport's value, or the
 * exec script's reference to the pod's own copy).
 */
export function rotationCommandArgs(c: RotationCommand, replicationPassword: string): string[] {
    switch (c.kind) {
        case "add":
            return ["ACL", "SETUSER", c.user, `#${c.hash}`];
        case "prune":
            return ["ACL", "SETUSER", c.user, "resetpass", `#${c.hash}`];
        case "masterauth":
            return ["CONFIG", "SET", "masterauth", replicationPassword];
        case "save":
            return ["ACL", "SAVE"];
    }
}

/** The plan as the log shows it before anything changes (hash prefixes only). */
export function renderRotationPlan(p: RotationPlan, nodes: number): string[] {
    if (p.users.length === 0) return ["password rotation: no user's password changes; nothing to do"];
    const step = (c: RotationCommand) =>
        c.kind === "add"
            ? `ACL SETUSER ${c.user} #${c.hash.slice(0, 8)}… (the new password next to the old)`
            : c.kind === "prune"
              ? `ACL SETUSER ${c.user} resetpass #${c.hash.slice(0, 8)}… (the old password removed)`
              : c.kind === "masterauth"
                ? "CONFIG SET masterauth <the new replication password>"
                : "ACL SAVE (the node's aclfile: a restart keeps this state)";
    return [
        `password rotation of ${p.users.join(", ")} on ${nodes} nodes:`,
        "  phase 1, on every node:",
        ...p.add.map((c) => `    ${step(c)}`),
        `  phase 2: the users Secret gets the new passwords; ${p.clients.length ? `the clients of ${p.clients.join(", ")} move to them` : "no client to move"}`,
        "  phase 3, on every node, once its copy of the users Secret holds the new passwords:",
        ...p.prune.map((c) => `    ${step(c)}`),
    ];
}
