/**
 * RedisAclRotation: a Pulumi dynamic resource that carries out one phase of a password rotation
 * (components/redis/acl.ts planRotation) on every pod of the StatefulSet, by exec'ing redis-cli as
 * the admin user (components/formation/rotate.ts). The stack registers two of them around the app:
 *
 *   users Secret (new passwords) -> "add" (new next to old, on every node) -> the app rolls onto the
 *   new password -> "prune" (only the new one left, on every node)
 *
 * so no client is refused at any moment. Inputs carry only sha256 hashes of the passwords (what
 * Redis itself stores), never the passwords: the new password reaches Redis as `#<hash>`, and
 * masterauth is read by each pod from its own copy of the Secret.
 *
 * create: nothing to change (new pods start with the Secret's passwords). update: the phase's
 * commands for the users whose hash changed. delete: nothing (the users live as long as the pods).
 */
import * as pulumi from "@pulumi/pulumi";
import * as acl from "../redis/acl";
import * as podTransport from "./kubernetesTransport";
import * as rotate from "./rotate";
import * as shape from "../shape";

/** Bump when the provider's behaviour changes, so existing stacks run the new code. */
export const ACL_PROVIDER_VERSION = "1.0.0";

export type RotationPhase = "add" | "prune";

export interface AclRotationInputs {
    readonly kubeconfig: string;
    readonly namespace: string;
    readonly statefulSetName: string;
    readonly containerName: string;
    readonly phase: RotationPhase;
    /** user -> sha256 (hex) of its password. */
    readonly hashes: acl.UserHashes;
    readonly port?: number;
    readonly providerVersion: string;
}

/** Only a change of hashes (or where the pods are) acts; the phase never changes for one resource. */
export function diffAclRotation(olds: Partial<AclRotationInputs>, news: Partial<AclRotationInputs>): pulumi.dynamic.DiffResult {
    const replaces = (["namespace", "statefulSetName", "phase"] as const).filter((k) => olds[k] !== news[k]);
    const updates = (["hashes", "containerName", "port", "providerVersion", "kubeconfig"] as const).filter(
        (k) => JSON.stringify(olds[k]) !== JSON.stringify(news[k]),
    );
    return { changes: replaces.length + updates.length > 0, replaces, deleteBeforeReplace: false };
}

/** The phase of `plan` this resource carries out, as a plan with the other phase emptied. */
export function phaseOf(plan: acl.RotationPlan, phase: RotationPhase): acl.RotationPlan {
    return phase === "add" ? { ...plan, prune: [], clients: [] } : { ...plan, add: [], clients: [] };
}

async function runPhase(olds: AclRotationInputs, news: AclRotationInputs): Promise<void> {
    const plan = acl.planRotation(olds.hashes, news.hashes);
    const log = (line: string) => pulumi.log.info(`redis acl ${news.phase}: ${line}`);
    if (plan.users.length === 0) return;
    const port = news.port ?? shape.CLIENT_PORT;
    const transport = new podTransport.KubernetesTransport({
        kubeconfig: news.kubeconfig,
        namespace: news.namespace,
        container: news.containerName,
        port,
    });
    try {
        const pods = await transport.listPods(news.statefulSetName);
        const nodes = pods.map((p) => ({ address: `${p.ip}:${port}`, target: p.name }));
        const run: rotate.RotationRun = { plan: phaseOf(plan, news.phase), nodes, transport, log, moveClients: async () => undefined };
        for (const line of acl.renderRotationPlan(plan, nodes.length)) log(line);
        if (news.phase === "add") await rotate.addPhase(run);
        else await rotate.prunePhase(run);
        log(`phase ${news.phase} done on ${nodes.length} pods`);
    } finally {
        await transport.close();
    }
}

export const aclRotationProvider: pulumi.dynamic.ResourceProvider<AclRotationInputs, AclRotationInputs> = {
    async diff(_id, olds, news) {
        return diffAclRotation(olds, news);
    },
    async create(inputs) {
        return { id: `${inputs.namespace}/${inputs.statefulSetName}/acl-${inputs.phase}`, outs: inputs };
    },
    async update(_id, olds, news) {
        await runPhase(olds, news);
        return { outs: news };
    },
    async delete() {
        // The users live in the pods' ACL files; forgetting this step changes nothing in Redis.
    },
};

export interface RedisAclRotationArgs {
    readonly kubeconfig: pulumi.Input<string>;
    readonly namespace: pulumi.Input<string>;
    readonly statefulSetName: pulumi.Input<string>;
    readonly containerName: pulumi.Input<string>;
    readonly phase: RotationPhase;
    /** Each user's password; only its sha256 enters the resource's inputs. */
    readonly passwords: Readonly<Record<acl.AclUserName, pulumi.Input<string>>>;
    readonly port?: pulumi.Input<number>;
}

/** The sha256 hashes of every user's password, as one secret Output. */
export function passwordHashes(passwords: Readonly<Record<acl.AclUserName, pulumi.Input<string>>>): pulumi.Output<acl.UserHashes> {
    const entries = acl.ACL_USERS.map((u) => pulumi.output(passwords[u]).apply((p) => [u, acl.passwordHash(p)] as const));
    return pulumi.secret(pulumi.all(entries).apply((e) => Object.fromEntries(e)));
}

export class RedisAclRotation extends pulumi.dynamic.Resource {
    declare public readonly phase: pulumi.Output<RotationPhase>;

    constructor(name: string, args: RedisAclRotationArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            aclRotationProvider,
            name,
            {
                kubeconfig: args.kubeconfig,
                namespace: args.namespace,
                statefulSetName: args.statefulSetName,
                containerName: args.containerName,
                phase: args.phase,
                hashes: passwordHashes(args.passwords),
                port: args.port,
                providerVersion: ACL_PROVIDER_VERSION,
            },
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["kubeconfig", "hashes"] }),
            "redis-cluster-gke",
            "RedisAclRotation",
        );
    }
}
