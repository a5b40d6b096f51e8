/**
 * `npm run local -- rotate-password --dir DIR [--user NAME]`: a password rotation of a running local
 * cluster without a refused hit, as the stack does it on Kubernetes (components/redis/acl.ts):
 *
 *   1. on every pod: the new password next to the old (`ACL SETUSER u #<new>`), masterauth for the
 *      replication user, ACL SAVE (a pod restarting from here on accepts both);
 *      then the users Secret (DIR/secrets.json) gets the new passwords and the supervisor updates the
 *      pods' and the app's copies, as the kubelet updates a mounted Secret;
 *   2. the clients move: the hit counter re-reads its password file (its log says so);
 *   3. on every pod: only the new password is left (admin last), ACL SAVE.
 * At the end every rotated user's old password is refused on every pod (checked, not assumed).
 */
import * as fs from "fs";
import { ACL_USERS, APP_USER, AclUserName, UserHashes, passwordHash, planRotation } from "../components/redis/acl";
import { NodeTarget, DirectTransport, NodeAccess, ioredisAccessOptions, splitAddress } from "../components/formation/transport";
import { rotatePasswords } from "../components/formation/rotate";
import { passwordFingerprint } from "../app/credentials";
import { waitUntil } from "../lib/poll";
import { Layout } from "./layout";
import { StatusView, call } from "./protocol";
import { ClusterConfig, accessOf, readConfig, readSecrets, usersOf, writeSecrets } from "./state";
import { redisEndpoint } from "./rules";
import { newPassword } from "./up";
import { APP_POD } from "./appPod";

export interface RotateOptions {
    /** Users to rotate (default: every user). */
    readonly users?: readonly AclUserName[];
    readonly log: (line: string) => void;
    /** Called when a phase is done on every pod (components/formation/rotate.ts RotationRun.afterPhase). */
    readonly afterPhase?: (phase: 1 | 2 | 3) => Promise<void>;
}

export interface RotateResult {
    readonly users: readonly AclUserName[];
    readonly nodes: readonly string[];
    /** Per user: every pod refused the old password at the end. */
    readonly oldRefused: Readonly<Partial<Record<AclUserName, boolean>>>;
    readonly durationMs: number;
}

const APP_RELOAD_TIMEOUT_MS = 30_000;

function hashesOf(passwords: Readonly<Record<AclUserName, string>>): UserHashes {
    return Object.fromEntries(ACL_USERS.map((u) => [u, passwordHash(passwords[u])]));
}

export async function rotateLocalPasswords(layout: Layout, o: RotateOptions): Promise<RotateResult> {
    const started = Date.now();
    const config = readConfig(layout);
    if (!config) throw new Error(`--dir: no local cluster in ${layout.dir}`);
    const status = await call<StatusView>(layout, { verb: "status" });
    const users = o.users ?? ACL_USERS;
    const before = usersOf(layout, config);
    const after = { ...before, ...Object.fromEntries(users.map((u) => [u, newPassword()])) } as Record<AclUserName, string>;
    const plan = planRotation(hashesOf(before), hashesOf(after));
    const nodes: NodeTarget[] = status.pods.map((p) => ({ address: redisEndpoint(p.address), target: redisEndpoint(p.address) }));
    const access = accessOf(layout, config);
    const transport = new DirectTransport({ ...access, replicationPassword: after.replication });
    try {
        await rotatePasswords({
            plan,
            nodes,
            transport,
            log: o.log,
            afterPhase: o.afterPhase,
            // The users Secret changes once every pod accepts both passwords; then the clients' copies follow.
            moveClients: async (moving) => {
                updateUsersSecret(layout, config, after);
                await call(layout, { verb: "sync-secrets" });
                o.log(`users Secret updated; the pods' and the app's copies hold the new passwords`);
                if (moving.includes(APP_USER) && status.app) await appReloaded(layout, after[APP_USER]);
            },
        });
    } finally {
        await transport.close();
    }
    const oldRefused: Partial<Record<AclUserName, boolean>> = {};
    for (const u of plan.users) oldRefused[u] = await refusedEverywhere(nodes, { ...access, username: u, password: before[u] });
    return { users: plan.users, nodes: nodes.map((n) => n.address), oldRefused, durationMs: Date.now() - started };
}

function updateUsersSecret(layout: Layout, config: ClusterConfig, passwords: Record<AclUserName, string>): void {
    const secrets = readSecrets(layout);
    writeSecrets(layout, { ...secrets, [config.usersSecret]: { ...passwords } });
}

/** Phase 2 locally: the app logs the reload of its password file with the new password's fingerprint. */
async function appReloaded(layout: Layout, password: string): Promise<void> {
    const line = `(sha256 ${passwordFingerprint(password)}…)`;
    const log = layout.log(APP_POD);
    await waitUntil(
        "the hit counter to re-read its password file",
        async () => (fs.existsSync(log) && fs.readFileSync(log, "utf8").includes(line) ? undefined : `no "${line}" in ${log} yet`),
        { timeoutMs: APP_RELOAD_TIMEOUT_MS, intervalMs: 200 },
    );
}

/** Whether every node refuses `access` (WRONGPASS), i.e. the old password is gone everywhere. */
async function refusedEverywhere(nodes: readonly NodeTarget[], access: NodeAccess): Promise<boolean> {
    const { Redis } = await import("ioredis");
    const answers = await Promise.all(
        nodes.map(async (n) => {
            const [host, port] = splitAddress(n.address);
            const c = new Redis({
                host,
                port,
                ...ioredisAccessOptions(access),
                lazyConnect: true,
                maxRetriesPerRequest: 0,
                retryStrategy: () => null,
            });
            // ioredis reports the AUTH reply on 'error' and rejects connect() with "Connection is closed".
            let refusal = "";
            c.on("error", (e: Error) => (refusal ||= e.message));
            try {
                await c.connect();
                return false;
            } catch (e) {
                return /WRONGPASS/.test(refusal || (e as Error).message);
            } finally {
                c.disconnect();
            }
        }),
    );
    return answers.every((refused) => refused);
}
