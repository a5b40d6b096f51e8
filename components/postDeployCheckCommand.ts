/**
 * The post-deploy check as a resource: a @pulumi/command `local.Command` that runs the script of
 * postDeployCheck.ts on the machine running Pulumi, after the formation and the app. Its output shows
 * in `pulumi up`; a failure fails the update. It runs again whenever the shape, an image or the app
 * changes (its triggers), or the script itself does.
 */
import * as crypto from "crypto";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { runsBundledServer } from "./app/hitCounter";
import { AppSettings } from "./config";
import { CHECK_KUBECONFIG_ENV, postDeployCheckScript } from "./postDeployCheck";

export interface PostDeployCheckArgs {
    /** Kubeconfig content of the cluster (secret); reaches the script through its environment only. */
    readonly kubeconfig: pulumi.Input<string>;
    readonly namespace: pulumi.Input<string>;
    readonly redisPod: pulumi.Input<string>;
    readonly redisContainer: string;
    readonly masters: number;
    readonly replicasPerMaster: number;
    /** The Redis image: a new one rolls the pods, and the check runs again. */
    readonly redisImage: string;
    readonly app: AppSettings;
    /** The app's Service and the name of its port. */
    readonly appService: pulumi.Input<string>;
    readonly appPort: string;
    /** The bundled server's source: a change of it re-runs the check (only its hash is kept). */
    readonly appServerSource: pulumi.Input<string>;
}

/** The hash kept in the triggers instead of the bundle itself. */
function sha256(text: string): string {
    return `sha256:${crypto.createHash("sha256").update(text).digest("hex")}`;
}

/** Registers the check; `opts.dependsOn` must hold what it checks (the formation and the app). */
export function postDeployCheck(name: string, args: PostDeployCheckArgs, opts: pulumi.CustomResourceOptions): command.local.Command {
    const script = pulumi.all([args.namespace, args.redisPod, args.appService]).apply(([namespace, redisPod, service]) =>
        postDeployCheckScript({
            namespace,
            redisPod,
            redisContainer: args.redisContainer,
            masters: args.masters,
            replicasPerMaster: args.replicasPerMaster,
            app: args.app.replicas > 0 ? { service, port: args.appPort } : undefined,
        }),
    );
    return new command.local.Command(
        name,
        {
            create: script,
            environment: { [CHECK_KUBECONFIG_ENV]: pulumi.secret(args.kubeconfig) },
            interpreter: ["/bin/sh", "-c"],
            logging: "stdoutAndStderr",
            triggers: [
                { masters: args.masters, replicasPerMaster: args.replicasPerMaster },
                args.redisImage,
                { ...args.app },
                runsBundledServer(args.app) ? pulumi.output(args.appServerSource).apply(sha256) : "no bundled server",
            ],
        },
        opts,
    );
}
