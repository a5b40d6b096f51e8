/**
 * The project's own program, evaluated under mocks for both targets, passes every
 * mandatory policy of the pack: resource policies on each resource's inputs (what the
 * analyzer sees before a create), stack policies on the registered state, run twice:
 *  - as at `pulumi preview`: the formation's outputs, which only its dynamic provider
 *    computes, are unknown, so the placement policy may only speak as advisory;
 *  - as after `pulumi up`: the state the mocks give the formation (a formed cluster).
 */
import { strict as assert } from "assert";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { ProgramRun, runProgram } from "../support/mocks";
import { resourcePolicies, stackPolicies } from "../../policy/policies";
import { isFormation } from "../../policy/shapes";
import { Outcome, PackConfig, SubjectResource, emptyOutcome, runResourcePolicy, runStackPolicy, violated } from "./harness";

/** Outputs of RedisClusterFormation that only its provider computes. */
const FORMATION_OUTPUTS = ["seeds", "shards", "placementOk", "placementWarnings", "clusterState"];

type Phase = "preview" | "update";

const TARGETS = {
    gke: { config: { "redis-cluster-gke:target": "gke", "gcp:project": "policy-test", "gcp:region": "europe-west4" } },
    existing: {
        config: { "redis-cluster-gke:target": "existing" },
        secrets: {
            "redis-cluster-gke:kubeconfig": [
                "apiVersion: v1",
                "kind: Config",
                "clusters: [{name: c, cluster: {server: 'https://203.0.113.5'}}]",
                "contexts: [{name: c, context: {cluster: c, user: u}}]",
                "current-context: c",
                "users: [{name: u, user: {token: t}}]",
            ].join("\n"),
        },
    },
} as const;

function asStackSubject(r: ProgramRun["resources"][number], phase: Phase): SubjectResource {
    const props: Record<string, unknown> = { ...r.state };
    if (phase === "preview" && isFormation(r.type, props)) for (const k of FORMATION_OUTPUTS) props[k] = unknownValue;
    return { type: r.type, name: r.name, urn: r.urn, props };
}

async function evaluate(run: ProgramRun, phase: Phase, config: PackConfig = {}): Promise<Outcome> {
    const custom = run.resources.filter((r) => r.custom);
    const out = emptyOutcome();
    for (const p of resourcePolicies) {
        for (const r of custom) await runResourcePolicy(p, { type: r.type, name: r.name, urn: r.urn, props: r.inputs }, config, out);
    }
    for (const p of stackPolicies)
        await runStackPolicy(
            p,
            custom.map((r) => asStackSubject(r, phase)),
            config,
            out,
        );
    return out;
}

describe("policy pack: the project's own program under mocks", function () {
    // Loading the program (and bundling the app once) takes a few seconds.
    this.timeout(120_000);

    for (const [target, stackConfig] of Object.entries(TARGETS)) {
        describe(`target ${target}`, () => {
            let run: ProgramRun;
            let out: Outcome;
            let afterUpdate: Outcome;

            before(async () => {
                run = await runProgram(stackConfig);
                out = await evaluate(run, "preview");
                afterUpdate = await evaluate(run, "update");
            });

            it("passes every mandatory policy, at preview and after the update", () => {
                assert.deepEqual(
                    out.violations.filter((v) => v.level === "mandatory"),
                    [],
                );
                assert.deepEqual(afterUpdate.violations, []);
            });

            it("the Redis policies really looked at the Redis objects (not just found nothing to check)", () => {
                const applied = (policy: string, type: string) =>
                    run.ofType(type).some((r) => !out.notApplicable.some((n) => n.policy === policy && n.subject === r.urn));
                for (const policy of [
                    "redis-password-from-secret",
                    "redis-probes",
                    "redis-spread",
                    "redis-resources",
                    "redis-cluster-size",
                    "redis-version",
                ]) {
                    assert.ok(applied(policy, "kubernetes:apps/v1:StatefulSet"), policy);
                }
                for (const policy of ["redis-protected-mode", "redis-masterauth", "redis-tls", "redis-node-timeout"]) {
                    assert.ok(applied(policy, "kubernetes:core/v1:ConfigMap"), policy);
                }
                const formation = run.resources.find((r) => isFormation(r.type, r.inputs));
                assert.ok(formation, "the program registers the formation resource");
                assert.ok(applied("redis-cluster-size", formation.type), "formation checked");
                const stackLevel = out.notApplicable.filter((n) => n.subject === "stack").map((n) => n.policy);
                assert.deepEqual(stackLevel, [], "every stack policy found its subjects");
            });

            it("GKE policies apply exactly when the program creates a cluster", () => {
                const gkePolicies = resourcePolicies.filter((p) => p.name.startsWith("gke-")).map((p) => p.name);
                const applied = gkePolicies.filter((p) =>
                    run.resources.some((r) => r.custom && !out.notApplicable.some((n) => n.policy === p && n.subject === r.urn)),
                );
                assert.deepEqual(applied, target === "gke" ? gkePolicies : []);
            });

            it("only the formation placement waits for apply (advisory at preview); nothing else is advisory", () => {
                assert.deepEqual(violated(out, "advisory"), ["redis-formation-placement"]);
                assert.ok(
                    out.violations
                        .filter((v) => v.level === "advisory")
                        .every((v) => /can't run during preview: .*placementOk/.test(v.message)),
                );
            });
        });
    }

    it("redis:tls false fails redis-tls alone, as mandatory; the documented advisory switch lets it through with a warning", async () => {
        const plain = await runProgram({ ...TARGETS.existing, config: { ...TARGETS.existing.config, "redis:tls": "false" } });
        const out = await evaluate(plain, "update");
        assert.deepEqual(violated(out, "mandatory"), ["redis-tls"]);
        assert.match(out.violations[0].message, /the plain port is open \(`port 6379`\)/);
        const switched = await evaluate(plain, "update", { "redis-tls": { enforcementLevel: "advisory" } });
        assert.deepEqual(violated(switched, "mandatory"), []);
        assert.deepEqual(violated(switched, "advisory"), ["redis-tls"]);
    });
});
