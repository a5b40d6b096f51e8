import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import {
    FormationInputs,
    checkFormationInputs,
    diffFormation,
    formationProvider,
    podsPending,
    formationSeeds,
} from "../../components/formation/provider";
import { formationProviderVersion } from "../../components/formation/codeVersion";
import { validFormationInputs } from "../support/formationInputs";

const valid = validFormationInputs("apiVersion: v1\nkind: Config\n");

describe("RedisClusterFormation provider (components/formation/provider.ts)", () => {
    describe("check", () => {
        it("accepts valid inputs", () => {
            assert.deepStrictEqual(checkFormationInputs(valid), []);
        });

        it("at preview, accepts inputs that are not known yet (a new cluster's kubeconfig, its namespace)", () => {
            const unknown = pulumi.runtime.unknownValue as never;
            const preview = {
                ...valid,
                kubeconfig: unknown,
                namespace: unknown,
                statefulSetName: unknown,
                headlessServiceName: unknown,
                masters: unknown,
            };
            assert.deepStrictEqual(checkFormationInputs(preview), []);
            // Known values are still checked next to unknown ones.
            assert.deepStrictEqual(
                checkFormationInputs({ ...preview, replicasPerMaster: 9 }).map((f) => f.property),
                ["replicasPerMaster"],
            );
        });

        const bad: [string, Partial<FormationInputs>, RegExp][] = [
            ["masters", { masters: 2 }, /masters: expected a whole number from 3 to 1000 .*got 2/],
            ["masters", { masters: 3.5 }, /masters: expected a whole number from 3 to 1000/],
            ["replicasPerMaster", { replicasPerMaster: -1 }, /replicasPerMaster: expected a whole number from 0 to 5, got -1/],
            ["namespace", { namespace: "Redis_NS" }, /namespace: expected a DNS label .* got "Redis_NS"/],
            ["statefulSetName", { statefulSetName: "" }, /statefulSetName: expected a DNS label/],
            ["kubeconfig", { kubeconfig: "" }, /kubeconfig: required/],
            ["providerVersion", { providerVersion: "" }, /providerVersion: required/],
            ["port", { port: 70000 }, /port: expected 1-65535, got 70000/],
        ];
        for (const [field, change, message] of bad) {
            it(`refuses bad ${field} with a message naming it: ${JSON.stringify(change)}`, () => {
                const failures = checkFormationInputs({ ...valid, ...change });
                assert.strictEqual(failures.length, 1, JSON.stringify(failures));
                assert.strictEqual(failures[0].property, field);
                assert.match(failures[0].reason, message);
            });
        }

        it("accepts a smaller shape: scale-in is drained, not refused", async () => {
            const result = await formationProvider.check!({ ...valid, masters: 4 }, { ...valid, masters: 3 });
            assert.deepStrictEqual(result.failures, undefined);
        });
    });

    describe("diff", () => {
        it("no change, no update", () => {
            assert.deepStrictEqual(diffFormation(valid, { ...valid }), { changes: false, replaces: [], deleteBeforeReplace: false });
        });
        it("more masters or a new provider version is an in-place update", () => {
            assert.deepStrictEqual(diffFormation(valid, { ...valid, masters: 4 }).replaces, []);
            assert.strictEqual(diffFormation(valid, { ...valid, masters: 4 }).changes, true);
            assert.strictEqual(diffFormation(valid, { ...valid, providerVersion: "9.9.9" }).changes, true);
        });
        it("drift the last refresh found and an update can converge is an update, so refresh shows it and up runs it", () => {
            assert.strictEqual(diffFormation({ ...valid, converge: [] }, valid).changes, false);
            assert.strictEqual(diffFormation({ ...valid, converge: ["plan: converge to 3 masters x 1 replicas: …"] }, valid).changes, true);
        });
        it("a different namespace or StatefulSet is a replace", () => {
            assert.deepStrictEqual(diffFormation(valid, { ...valid, namespace: "other" }).replaces, ["namespace"]);
            assert.deepStrictEqual(diffFormation(valid, { ...valid, statefulSetName: "r2" }).replaces, ["statefulSetName"]);
        });
    });

    it("seeds are stable pod DNS names with a headless Service, pod IPs without", () => {
        const ipOf = (p: string) => ({ "redis-0": "10.0.0.5" })[p] ?? "?";
        const inputs = { namespace: "ns", statefulSetName: "redis" };
        assert.deepStrictEqual(formationSeeds(["redis-0"], { ...inputs, headlessServiceName: "redis-headless" }, ipOf), [
            "redis-0.redis-headless.ns.svc.cluster.local:6379",
        ]);
        assert.deepStrictEqual(formationSeeds(["redis-0"], inputs, ipOf), ["10.0.0.5:6379"]);
        assert.deepStrictEqual(formationSeeds(["redis-0"], { ...inputs, port: 7000 }, ipOf), ["10.0.0.5:7000"]);
    });

    it("podsPending names pods that are missing, without IP or not Ready", () => {
        const pods = [
            { name: "redis-0", ip: "10.0.0.1", ready: true },
            { name: "redis-1", ip: "", ready: false },
            { name: "redis-2", ip: "10.0.0.3", ready: false },
        ];
        assert.strictEqual(podsPending(pods, "redis", 4), "redis-1 has no IP; redis-2 is not Ready; redis-3 does not exist");
        assert.strictEqual(podsPending(pods.slice(0, 1), "redis", 1), undefined);
    });

    it("delete leaves Redis alone (no call can reach any cluster)", async () => {
        await formationProvider.delete!("ns/redis", { ...valid } as never);
    });

    it("is serializable by pulumi.runtime.serializeFunction, and the serialized provider works on its own", async function () {
        this.timeout(60_000);
        // The program computes the version before it registers the resource (and so before Pulumi
        // serializes the provider): the provider host then carries it and never reads source files.
        const version = formationProviderVersion();
        const serialized = await pulumi.runtime.serializeFunction(() => formationProvider, { allowSecrets: false });
        assert.ok(serialized.text.includes(JSON.stringify(version)), "the serialized provider carries the computed version");
        assert.strictEqual(serialized.containsSecrets, false);
        // Load the text as Pulumi's dynamic provider host would (a fresh module) and call check().
        const file = path.join(__dirname, "..", "..", "node_modules", ".cache", `formation-provider-${process.pid}.js`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, serialized.text);
        try {
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            const loaded = require(file)[serialized.exportName]() as pulumi.dynamic.ResourceProvider;
            const good = await loaded.check!(undefined as never, valid);
            assert.deepStrictEqual(good.failures, undefined);
            const badResult = await loaded.check!(undefined as never, { ...valid, masters: 1 });
            assert.match(badResult.failures![0].reason, /masters: expected a whole number from 3 to 1000/);
            assert.deepStrictEqual((await loaded.diff!("id", valid, { ...valid, namespace: "x" })).replaces, ["namespace"]);
        } finally {
            fs.rmSync(file, { force: true });
        }
    });
});
