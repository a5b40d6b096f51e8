/**
 * The post-deploy check as the program registers it (components/postDeployCheckCommand.ts), under
 * mocks: a @pulumi/command local.Command after the formation and the app, running exactly the script
 * test/integration/postDeployCheck.test.ts runs against real Redis, with the kubeconfig only in its
 * (secret) environment; triggers that change with the shape, the images and the app and with nothing
 * else; and gone when `redis-cluster-gke:postDeployCheck` is false.
 */
import { strict as assert } from "assert";
import { CHECK_KUBECONFIG_ENV, postDeployCheckScript } from "../../components/postDeployCheck";
import { KEYS } from "../../components/configKeys";
import { ProgramRun, runProgram } from "../support/mocks";

const KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n";
const COMMAND = "command:local:Command";
const T = {
    formation: "pulumi-nodejs:dynamic/redis-cluster-gke:RedisClusterFormation",
    appComponent: "redis-cluster-gke:app:HitCounterApp",
    redisComponent: "redis-cluster-gke:redis:RedisCluster",
};

function stack(config: Record<string, string> = {}): Promise<ProgramRun> {
    return runProgram({
        config: { "redis-cluster-gke:target": "existing", "redis-cluster-gke:namespace": "cache", ...config },
        secrets: { "redis-cluster-gke:kubeconfig": KUBECONFIG, "redis:adminPassword": "a-configured-password-0123456789" },
    });
}

const triggersOf = (run: ProgramRun) => JSON.stringify(run.one(COMMAND).inputs.triggers);

describe("post-deploy check under mocks (components/postDeployCheckCommand.ts)", function () {
    this.timeout(60_000);
    let run: ProgramRun;
    before(async () => (run = await stack()));

    it("is a local command after the formation and the app, running the tested script for this stack", () => {
        const check = run.one(COMMAND, "post-deploy-check");
        assert.ok(check.dependsOnUrns.includes(run.one(T.formation).urn), "runs after the formation");
        assert.ok(check.dependsOnUrns.includes(run.one(T.appComponent).urn), "runs after the app (its Deployment rolled out)");
        assert.equal(
            check.inputs.create,
            postDeployCheckScript({
                namespace: "cache",
                redisPod: "redis-0",
                redisContainer: "redis",
                masters: 3,
                replicasPerMaster: 1,
                app: { service: "hit-counter", port: "http" },
            }),
        );
        assert.deepEqual(check.inputs.interpreter, ["/bin/sh", "-c"]);
        assert.equal(check.inputs.logging, "stdoutAndStderr", "its output shows in pulumi up");
    });

    it("the kubeconfig reaches it only through its environment, as a secret", () => {
        const check = run.one(COMMAND);
        assert.equal(check.inputs.environment[CHECK_KUBECONFIG_ENV], KUBECONFIG);
        assert.ok(
            check.secretPaths.some((p) => p === "environment" || p === `environment.${CHECK_KUBECONFIG_ENV}`),
            check.secretPaths.join(),
        );
        assert.ok(!check.inputs.create.includes("kind: Config"));
    });

    it("runs again when the shape, the Redis image or the app changes, and not when nothing does", async () => {
        assert.equal(triggersOf(await stack()), triggersOf(run), "the same stack, the same triggers");
        const changed = {
            masters: { "redis:masters": "4" },
            replicas: { "redis:replicasPerMaster": "2" },
            redisImage: { "redis:image": "redis:7.2.17-bookworm" },
            nodeImage: { "app:nodeImage": "node:24.22.0-alpine3.24" },
            appImage: { "app:image": "example.com/hit-counter:2" },
            appReplicas: { "app:replicas": "3" },
        };
        for (const [what, config] of Object.entries(changed)) {
            assert.notEqual(triggersOf(await stack(config)), triggersOf(run), `${what} does not change the triggers`);
        }
    });

    it("an app without replicas is not asked; the Redis half still runs", async () => {
        const script = (await stack({ "app:replicas": "0" })).one(COMMAND).inputs.create as string;
        assert.match(script, /the app runs no replica; not asked/);
        assert.doesNotMatch(script, /proxy/);
        assert.match(script, /--cluster/);
    });

    it(`${KEYS.postDeployCheck.key} false registers no check`, async () => {
        const off = await stack({ [KEYS.postDeployCheck.key]: "false" });
        assert.deepEqual(off.ofType(COMMAND), []);
        assert.equal(off.ofType(T.formation).length, 1);
    });
});
