/**
 * The tutorial's own manifests (test/fixtures/tutorial/, written from its listings), run through
 * the pack as one stack.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { policies } from "../../policy/policies";
import { runPack, SubjectResource, urnOf, violated } from "./harness";

const TUTORIAL_DIR = path.resolve(__dirname, "../fixtures/tutorial");
/** The tutorial's files, in the order it applies them. */
const TUTORIAL_FILES = ["redis-sts.yaml", "redis-svc.yaml", "app-deployment-service.yaml"];

/** Every Kubernetes object in the given YAML texts. */
export function tutorialManifests(yamlTexts: readonly string[]): SubjectResource[] {
    return yamlTexts.flatMap((text) =>
        parseAllDocuments(text)
            .map((d) => d.toJS() as Record<string, unknown> | null)
            .filter((o): o is Record<string, unknown> => o !== null && typeof o.kind === "string")
            .map((o) => {
                const [group, version] = String(o.apiVersion).includes("/")
                    ? String(o.apiVersion).split("/")
                    : ["core", String(o.apiVersion)];
                const name = (o.metadata as { name: string }).name;
                return { type: `kubernetes:${group}/${version}:${o.kind}`, name: `${o.kind}-${name}`, props: o };
            }),
    );
}

describe("policy pack: the tutorial's original manifests", () => {
    let manifests: SubjectResource[];

    before(function () {
        manifests = tutorialManifests(TUTORIAL_FILES.map((f) => fs.readFileSync(path.join(TUTORIAL_DIR, f), "utf8")));
    });

    it("are all found in the fixtures", () => {
        assert.deepEqual(manifests.map((m) => m.type).sort(), [
            "kubernetes:apps/v1:Deployment",
            "kubernetes:apps/v1:StatefulSet",
            "kubernetes:core/v1:ConfigMap",
            "kubernetes:core/v1:Service",
            "kubernetes:core/v1:Service",
        ]);
    });

    it("fail exactly the policies they should, and pass the rest", async () => {
        const out = await runPack(manifests);
        assert.deepEqual(violated(out, "mandatory"), [
            "app-network-policy", // the app's pods take and send anything
            "image-digest", // tags only: whoever can push them decides what runs
            "pod-service-account-token", // every pod mounts an API token
            "redis-default-user-off", // requirepass alone: the default user runs every command
            "redis-masterauth", // neither redis.conf nor update-node.sh sets it
            "redis-network-policy", // none
            "redis-password-from-secret", // no password anywhere
            "redis-pod-disruption-budget", // none
            "redis-probes", // none
            "redis-protected-mode", // `protected-mode no` without requirepass
            "redis-resources", // no requests or limits
            "redis-spread", // nothing keeps a master and its replica apart
            "redis-tls", // port 6379 in plain text, the bus and replication too
            "redis-version", // redis:5.0.1-alpine
        ]);
        // cluster-node-timeout 15000: ~17 s of failed writes per master loss.
        assert.deepEqual(violated(out, "advisory"), ["redis-node-timeout"]);
        // What the tutorial does right: 6 pods, PVC template + appendonly, pinned tags,
        // the Redis Service stays ClusterIP (its LoadBalancer selects only the app).
        const statefulSetUrn = urnOf(manifests.find((m) => m.type === "kubernetes:apps/v1:StatefulSet")!);
        const passed = policies.map((p) => p.name).filter((n) => !violated(out).includes(n));
        for (const n of ["redis-cluster-size", "redis-persistence", "redis-image-pinned", "redis-no-external-service-selector"]) {
            assert.ok(passed.includes(n), `${n} should pass the tutorial`);
            assert.ok(
                !out.notApplicable.some((x) => x.policy === n && x.subject === statefulSetUrn),
                `${n} must have looked at the StatefulSet`,
            );
        }
        // The resource policy looks at each Service (the LoadBalancer among them) by itself.
        assert.ok(passed.includes("redis-no-external-service"));
        for (const service of manifests.filter((m) => m.type === "kubernetes:core/v1:Service")) {
            assert.ok(
                !out.notApplicable.some((x) => x.policy === "redis-no-external-service" && x.subject === urnOf(service)),
                `redis-no-external-service must have looked at ${service.name}`,
            );
        }
    });
});
