import { strict as assert } from "assert";
import {
    CLIENT_PORT,
    MAX_NODES,
    busPort,
    maxMasters,
    podCount,
    podDnsName,
    podEndpoints,
    podName,
    podOrdinal,
    seedEndpoints,
    serviceEndpoint,
    shapeProblems,
} from "../../components/shape";

describe("shape: the one source of the cluster shape, ports and names", () => {
    it("counts every master with its replicas", () => {
        assert.equal(podCount({ masters: 3, replicasPerMaster: 1 }), 6);
        assert.equal(podCount({ masters: 5, replicasPerMaster: 0 }), 5);
        assert.equal(podCount({ masters: 4, replicasPerMaster: 2 }), 12);
    });

    it("accepts the bounds and refuses what is outside them, naming the field", () => {
        assert.deepEqual(shapeProblems({ masters: 3, replicasPerMaster: 0 }), []);
        assert.deepEqual(shapeProblems({ masters: 1000, replicasPerMaster: 0 }), []);
        assert.deepEqual(shapeProblems({ masters: 166, replicasPerMaster: 5 }), []);
        const fields = (masters: unknown, replicasPerMaster: unknown) => shapeProblems({ masters, replicasPerMaster }).map((p) => p.field);
        assert.deepEqual(fields(2, 1), ["masters"]);
        assert.deepEqual(fields(3.5, 1), ["masters"]);
        assert.deepEqual(fields("3", 1), ["masters"]);
        assert.deepEqual(fields(1001, 0), ["masters"]);
        assert.deepEqual(fields(3, 6), ["replicasPerMaster"]);
        assert.deepEqual(fields(3, -1), ["replicasPerMaster"]);
        assert.deepEqual(fields(2, 9), ["replicasPerMaster", "masters"]);
    });

    it("refuses a shape whose nodes exceed the limit, saying how many masters fit", () => {
        const [p] = shapeProblems({ masters: 400, replicasPerMaster: 2 });
        assert.equal(p.field, "masters");
        assert.match(p.reason, /400 masters x \(1 \+ 2 replicas\) make 1200 nodes; a cluster has at most 1000, so at most 333 masters/);
        assert.equal(maxMasters(2), 333);
        assert.ok(podCount({ masters: maxMasters(2), replicasPerMaster: 2 }) <= MAX_NODES);
    });

    it("the bus port is the client port plus 10000", () => {
        assert.equal(busPort(), CLIENT_PORT + 10000);
        assert.equal(busPort(7000), 17000);
    });

    it("names pods and their DNS names as a StatefulSet with a headless Service does", () => {
        const naming = { statefulSet: "redis", headlessService: "redis-headless", namespace: "cache" };
        assert.equal(podName("redis", 4), "redis-4");
        assert.equal(podDnsName(naming, "redis-4"), "redis-4.redis-headless.cache.svc.cluster.local");
        assert.equal(podDnsName({ ...naming, clusterDomain: "corp.example" }, "redis-0"), "redis-0.redis-headless.cache.svc.corp.example");
        assert.deepEqual(podEndpoints(naming, ["redis-1"], 7000), ["redis-1.redis-headless.cache.svc.cluster.local:7000"]);
        assert.deepEqual(seedEndpoints(naming, { masters: 3, replicasPerMaster: 0 }), [
            "redis-0.redis-headless.cache.svc.cluster.local:6379",
            "redis-1.redis-headless.cache.svc.cluster.local:6379",
            "redis-2.redis-headless.cache.svc.cluster.local:6379",
        ]);
        assert.equal(serviceEndpoint("redis", "cache"), "redis.cache.svc.cluster.local:6379");
    });

    it("reads a pod's ordinal back, and only from its own StatefulSet's names", () => {
        assert.equal(podOrdinal("redis", "redis-12"), 12);
        assert.equal(podOrdinal("redis", "redis-0"), 0);
        assert.equal(podOrdinal("redis", "redis-01"), undefined);
        assert.equal(podOrdinal("redis", "redis-exporter-1"), undefined);
        assert.equal(podOrdinal("redis", "other-1"), undefined);
        assert.equal(podOrdinal("redis-a", "redis-1"), undefined);
    });
});
