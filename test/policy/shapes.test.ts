/**
 * The pure readers behind the policies, and compile-time proof that the pack's own
 * narrow shapes use the real field names of @pulumi/gcp and of the formation resource
 * (the pack cannot import them at run time: it is published on its own).
 */
import { strict as assert } from "assert";
import type * as gcp from "@pulumi/gcp";
import type * as pulumi from "@pulumi/pulumi";
import type { RedisClusterFormationArgs, RedisClusterFormation } from "../../components/formation/provider";
import {
    FormationProps,
    GkeClusterProps,
    GkeNodeConfig,
    GkeNodePoolProps,
    IPodDisruptionBudget,
    imageMajorVersion,
    isDefaultComputeServiceAccount,
    isDynamicResource,
    isFormation,
    isGcpRegion,
    isPinnedImage,
    parseImage,
    parseRedisConf,
    pdbAllowedDisruptions,
    portsAllow,
    redisConfigOf,
    scriptSetsDirective,
    selectorMatches,
    serviceSelects,
} from "../../policy/shapes";

// ---- compile-time: every key the pack reads exists on the real type (a typo fails `tsc`).
type KeysOf<Mine, Real> = Exclude<keyof Mine, keyof Real> extends never ? true : { unknownKeys: Exclude<keyof Mine, keyof Real> };
const fieldNames: [
    KeysOf<GkeClusterProps, gcp.container.ClusterArgs>,
    KeysOf<GkeNodePoolProps, gcp.container.NodePoolArgs>,
    KeysOf<NonNullable<GkeClusterProps["releaseChannel"]>, gcp.types.input.container.ClusterReleaseChannel>,
    KeysOf<NonNullable<GkeClusterProps["workloadIdentityConfig"]>, gcp.types.input.container.ClusterWorkloadIdentityConfig>,
    KeysOf<NonNullable<GkeNodePoolProps["management"]>, gcp.types.input.container.NodePoolManagement>,
    KeysOf<GkeNodeConfig, gcp.types.input.container.NodePoolNodeConfig>,
    KeysOf<GkeNodeConfig, gcp.types.input.container.ClusterNodeConfig>,
    KeysOf<NonNullable<GkeNodeConfig["workloadMetadataConfig"]>, gcp.types.input.container.NodePoolNodeConfigWorkloadMetadataConfig>,
    KeysOf<FormationProps, RedisClusterFormationArgs & { [K in keyof RedisClusterFormation]: unknown }>,
] = [true, true, true, true, true, true, true, true, true];
// And the values the pack compares against have the real types.
const formationOutputs: Pick<FormationProps, "placementOk" | "placementWarnings"> = {} as {
    placementOk: pulumi.Unwrap<RedisClusterFormation["placementOk"]>;
    placementWarnings: pulumi.Unwrap<RedisClusterFormation["placementWarnings"]>;
};

describe("policy pack: shapes", () => {
    it("pack field names match @pulumi/gcp and the formation resource (checked by tsc)", () => {
        assert.equal(fieldNames.length, 9);
        assert.ok(formationOutputs);
    });

    it("parses image references without taking a registry port for a tag", () => {
        assert.deepEqual(parseImage("redis:7.2.7-bookworm"), { repository: "redis", tag: "7.2.7-bookworm", digest: undefined });
        assert.deepEqual(parseImage("registry.local:5000/redis"), { repository: "registry.local:5000/redis", digest: undefined });
        assert.equal(parseImage("redis@sha256:abc").digest, "sha256:abc");
        assert.equal(isPinnedImage("redis:7.2.7"), true);
        assert.equal(isPinnedImage("redis@sha256:abc"), true);
        assert.equal(isPinnedImage("redis:latest"), false);
        assert.equal(isPinnedImage("registry.local:5000/redis"), false);
        assert.equal(isPinnedImage(undefined), false);
        assert.equal(imageMajorVersion("redis:7.2.7-bookworm"), 7);
        assert.equal(imageMajorVersion("redis:5.0.1-alpine"), 5);
        assert.equal(imageMajorVersion("oliver006/redis_exporter:v1.66.0"), 1);
        assert.equal(imageMajorVersion("redis:alpine"), undefined);
    });

    it("reads redis.conf the way Redis does (last directive wins, comments ignored)", () => {
        const conf = parseRedisConf("# protected-mode no\nappendonly no\nAPPENDONLY yes\n  cluster-node-timeout   2000 \n");
        assert.equal(conf.get("appendonly"), "yes");
        assert.equal(conf.get("cluster-node-timeout"), "2000");
        assert.equal(conf.has("protected-mode"), false);
        assert.equal(
            redisConfigOf({ apiVersion: "v1", kind: "ConfigMap", data: { "a.conf": "appendonly yes" } }),
            undefined,
            "not a cluster conf",
        );
        const shipped = redisConfigOf({
            apiVersion: "v1",
            kind: "ConfigMap",
            data: { "redis.conf": "cluster-enabled yes", "start.sh": "echo masterauth" },
        });
        assert.equal(shipped?.confs.length, 1);
        assert.deepEqual(shipped?.scripts, ["echo masterauth"]);
    });

    it("counts a directive written by a script, not one merely mentioned in a comment", () => {
        assert.equal(scriptSetsDirective(['echo "masterauth \\"$P\\""'], "masterauth"), true);
        assert.equal(scriptSetsDirective(["# TODO masterauth"], "masterauth"), false);
        assert.equal(scriptSetsDirective(['echo "requirepass $P"'], "masterauth"), false);
    });

    it("matches label selectors with Kubernetes semantics", () => {
        const labels = { app: "redis", tier: "db" };
        assert.equal(selectorMatches({}, labels), true, "empty selector selects all");
        assert.equal(selectorMatches(undefined, labels), false, "no selector selects none");
        assert.equal(selectorMatches({ matchLabels: { app: "redis" } }, labels), true);
        assert.equal(selectorMatches({ matchLabels: { app: "web" } }, labels), false);
        assert.equal(selectorMatches({ matchExpressions: [{ key: "tier", operator: "In", values: ["db", "cache"] }] }, labels), true);
        assert.equal(selectorMatches({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["db"] }] }, labels), false);
        assert.equal(selectorMatches({ matchExpressions: [{ key: "zone", operator: "DoesNotExist" }] }, labels), true);
        assert.equal(selectorMatches({ matchExpressions: [{ key: "zone", operator: "Exists" }] }, labels), false);
        assert.equal(serviceSelects({ app: "redis" }, labels), true);
        assert.equal(serviceSelects({}, labels), false, "a Service without selector selects no pods");
    });

    it("resolves NetworkPolicy ports: numbers, names, ranges, protocol, and no list = all", () => {
        const named = new Map([
            ["client", 6379],
            ["bus", 16379],
        ]);
        assert.equal(portsAllow(undefined, 16379, named), true);
        assert.equal(portsAllow([{ port: "bus" }], 16379, named), true);
        assert.equal(portsAllow([{ port: "client" }], 16379, named), false);
        assert.equal(portsAllow([{ port: 6000, endPort: 7000 }], 6379, named), true);
        assert.equal(portsAllow([{ port: 6379, protocol: "UDP" }], 6379, named), false);
        assert.equal(portsAllow([{ protocol: "TCP" }], 16379, named), true);
    });

    it("computes the disruptions a PDB allows, rounding percentages up like Kubernetes", () => {
        const pdb = (spec: IPodDisruptionBudget["spec"]): IPodDisruptionBudget => ({
            apiVersion: "policy/v1",
            kind: "PodDisruptionBudget",
            spec,
        });
        assert.equal(pdbAllowedDisruptions(pdb({ maxUnavailable: 1 }), 6), 1);
        assert.equal(pdbAllowedDisruptions(pdb({ maxUnavailable: "20%" }), 6), 2);
        assert.equal(pdbAllowedDisruptions(pdb({ minAvailable: 5 }), 6), 1);
        assert.equal(pdbAllowedDisruptions(pdb({ minAvailable: "50%" }), 6), 3);
        assert.equal(pdbAllowedDisruptions(pdb({}), 6), 5);
    });

    it("tells GCP regions from zones and spots the default compute service account", () => {
        assert.equal(isGcpRegion("europe-west4"), true);
        assert.equal(isGcpRegion("us-central1"), true);
        assert.equal(isGcpRegion("us-central1-a"), false);
        assert.equal(isGcpRegion(undefined), false);
        assert.equal(isDefaultComputeServiceAccount("123-compute@developer.gserviceaccount.com"), true);
        assert.equal(isDefaultComputeServiceAccount("default"), true);
        assert.equal(isDefaultComputeServiceAccount("nodes@p.iam.gserviceaccount.com"), false);
    });

    it("recognises dynamic resources by either type token", () => {
        assert.equal(isDynamicResource("pulumi-nodejs:dynamic:Resource"), true);
        assert.equal(isDynamicResource("pulumi-nodejs:dynamic/redis-cluster-gke:RedisClusterFormation"), true);
        assert.equal(isDynamicResource("kubernetes:apps/v1:StatefulSet"), false);
    });

    it("tells the formation from the scale-in drain, whose inputs are alike", () => {
        const props = { statefulSetName: "redis", masters: 3 };
        assert.equal(isFormation("pulumi-nodejs:dynamic/redis-cluster-gke:RedisClusterFormation", props), true);
        assert.equal(isFormation("pulumi-nodejs:dynamic/redis-cluster-gke:RedisScaleInDrain", props), false);
        assert.equal(isFormation("pulumi-nodejs:dynamic:Resource", props), true);
        assert.equal(isFormation("pulumi-nodejs:dynamic:Resource", { ...props, drained: [] }), false);
    });
});
