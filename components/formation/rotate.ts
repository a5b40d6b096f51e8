/**
 * Carries out a password rotation (components/redis/acl.ts RotationPlan) on every node of a cluster,
 * over any transport: the local CLI (`npm run local -- rotate-password`) runs it over the direct
 * transport, the stack's RedisAclRotation steps over Kubernetes exec. The plan is logged before
 * anything changes; each phase reaches every node (masters and replicas: ACL changes are per node)
 * before the next starts, and a node that does not answer stops the rotation where it is, which is
 * always a state where both passwords work.
 */
import {
    ADMIN_USER,
    AclUserName,
    REPLICATION_USER,
    RotationCommand,
    RotationPlan,
    renderRotationPlan,
    rotationCommandArgs,
} from "../redis/acl";
import { NodeTarget, REPLICATION_PASSWORD_ARG, Transport } from "./transport";
import { waitFor } from "./wait";

/** How long a pod may take to see a rotated Secret (the kubelet's sync period plus its cache), and how often to look. */
export const SECRET_PROPAGATION = { timeoutMs: 180_000, pollMs: 2000 } as const;
/** How long a node that does not answer (a pod restarting) is asked again before the rotation stops. */
export const NODE_RETRY = { timeoutMs: 60_000, pollMs: 500 } as const;

/** A transport that can tell what a pod's own copy of a user's password is (Kubernetes: the mounted Secret). */
export interface CredentialDigests {
    /** sha256 (hex) of `user`'s password as the pod `target` holds it. */
    credentialDigest(target: string, user: AclUserName): Promise<string>;
}

export interface RotationRun {
    readonly plan: RotationPlan;
    readonly nodes: readonly NodeTarget[];
    readonly transport: Transport & Partial<CredentialDigests>;
    readonly log: (line: string) => void;
    /** Phase 2: resolves once the clients of `users` use their new password. */
    readonly moveClients: (users: readonly AclUserName[]) => Promise<void>;
    readonly timeoutMs?: number;
    /** Called when a phase is done on every node, before the next starts (progress; tests restart a pod here). */
    readonly afterPhase?: (phase: 1 | 2 | 3) => Promise<void>;
}

/** The phases of one plan, one after another; see RotationPlan. */
export async function rotatePasswords(run: RotationRun): Promise<void> {
    const { plan, nodes, log } = run;
    for (const line of renderRotationPlan(plan, nodes.length)) log(line);
    if (plan.users.length === 0) return;
    await addPhase(run);
    log(`phase 1 done on ${nodes.length} nodes: old and new passwords both work`);
    await run.afterPhase?.(1);
    await run.moveClients(plan.clients);
    log(`phase 2 done: ${plan.clients.length ? `the clients of ${plan.clients.join(", ")} use the new password` : "no client to move"}`);
    await run.afterPhase?.(2);
    await prunePhase(run);
    log(`phase 3 done on ${nodes.length} nodes: only the new passwords work`);
    await run.afterPhase?.(3);
}

/** Phase 1 alone (the stack runs it before the users Secret changes, so in-pod scripts still hold the old admin password). */
export async function addPhase(run: RotationRun): Promise<void> {
    await onEveryNode(run, run.plan.add);
}

/**
 * Phase 3 alone (the stack runs it once the app has rolled): masterauth is read from, and the admin
 * user's old password goes only once, every pod's own copy of the users Secret holds the new ones.
 */
export async function prunePhase(run: RotationRun): Promise<void> {
    for (const c of run.plan.prune) {
        if (c.kind === "prune" && (c.user === ADMIN_USER || c.user === REPLICATION_USER)) await waitForOwnCopies(run, c.user, c.hash);
    }
    await onEveryNode(run, run.plan.prune);
}

async function onEveryNode(run: RotationRun, commands: readonly RotationCommand[]): Promise<void> {
    if (commands.length === 0) return;
    const args = commands.map((c) => rotationCommandArgs(c, REPLICATION_PASSWORD_ARG));
    const failures: string[] = [];
    // Every command is idempotent: a node that restarts meanwhile (a closed connection) is asked again.
    const onNode = (n: NodeTarget) =>
        waitFor(
            `${n.address} to take ${commands.map((c) => c.kind).join(", ")}`,
            () => run.transport.callEach(n.target, args).then(() => undefined),
            { timeoutMs: run.timeoutMs ?? NODE_RETRY.timeoutMs, pollMs: NODE_RETRY.pollMs },
        );
    await Promise.all(run.nodes.map((n) => onNode(n).catch((e: Error) => failures.push(`${n.address}: ${e.message.split("\n")[0]}`))));
    if (failures.length) {
        throw new Error(
            `password rotation stopped: ${failures.length} of ${run.nodes.length} nodes did not take ${commands.map((c) => c.kind).join(", ")} (${failures.join("; ")}); ` +
                "every node still accepts the passwords it accepted before this phase; run it again once every node answers",
        );
    }
}

/**
 * Over Kubernetes the in-pod side (the admin user of exec and probes, masterauth) reads the mounted
 * users Secret, which the kubelet updates some time after the Secret changes: wait until every pod's
 * copy of `user` is the new password. Transports without own copies (direct) have nothing to wait for.
 */
async function waitForOwnCopies(run: RotationRun, user: AclUserName, hash: string): Promise<void> {
    const digest = run.transport.credentialDigest?.bind(run.transport);
    if (!digest) return;
    run.log(`waiting until every pod's copy of the users Secret holds ${user}'s new password`);
    await waitFor(
        `every pod's mounted ${user} password to be the new one`,
        async () => {
            const stale = [];
            for (const n of run.nodes) if ((await digest(n.target, user)) !== hash) stale.push(n.target);
            return stale.length ? `still the old ${user} password in ${stale.join(", ")}` : undefined;
        },
        { timeoutMs: run.timeoutMs ?? SECRET_PROPAGATION.timeoutMs, pollMs: SECRET_PROPAGATION.pollMs },
    );
}
