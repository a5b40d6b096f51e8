/**
 * policy/index.ts as the Pulumi CLI runs it: a separate process that serves the pack over
 * gRPC (never imported here: constructing a PolicyPack starts that server). The test asks it
 * what the CLI asks — the pack's info, then an analysis of one resource — so the pack's
 * wiring, names, levels and schemas are checked by @pulumi/policy's own server, and the
 * harness the other tests use is shown to agree with it.
 */
import { strict as assert } from "assert";
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { policies } from "../../policy/policies";
import { TYPES } from "../../policy/shapes";
import { runResourcePolicy, emptyOutcome } from "./harness";
import { redisStatefulSet, variant } from "./fixtures";

// The CLI's own protocol stubs, as @pulumi/policy's server loads them.
const analyzerRpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const analyzerProto = require("@pulumi/pulumi/proto/analyzer_pb");
const { Empty } = require("google-protobuf/google/protobuf/empty_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");

const policyDir = path.resolve(__dirname, "../../policy");

/** Calls a unary gRPC method of the generated client as a promise. */
/** A unary method of a generated gRPC client: request, then a node-style callback. */
type UnaryMethod = (request: unknown, callback: (err: Error | null, reply: unknown) => void) => void;

function unary<T>(client: Record<string, UnaryMethod>, method: string, request: unknown): Promise<T> {
    return new Promise((resolve, reject) => client[method](request, (err, reply) => (err ? reject(err) : resolve(reply as T))));
}

describe("policy pack: policy/index.ts served as the CLI runs it", function () {
    this.timeout(60_000);
    let pack: ChildProcess;
    let client: Record<string, UnaryMethod> & grpc.Client;

    before(async () => {
        pack = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "index.ts"], {
            cwd: policyDir,
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        pack.stderr!.on("data", (d) => (stderr += d));
        const port = await new Promise<number>((resolve, reject) => {
            let stdout = "";
            pack.stdout!.on("data", (d) => {
                stdout += d;
                const m = /^(\d+)\s*$/m.exec(stdout);
                if (m) resolve(Number(m[1]));
            });
            pack.on("exit", (code) => reject(new Error(`the pack exited (${code}) before serving: ${stderr}`)));
        });
        client = new analyzerRpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    });

    after(() => {
        client?.close();
        if (pack && pack.exitCode === null) pack.kill();
    });

    it("announces every policy with its enforcement level and config schema", async () => {
        const info = await unary<{
            getName(): string;
            getPoliciesList(): { getName(): string; getEnforcementlevel(): number; getConfigschema(): unknown }[];
        }>(client, "getAnalyzerInfo", new Empty());
        assert.equal(info.getName(), "redis-cluster-gke");
        const served = info.getPoliciesList();
        const level = { advisory: analyzerProto.EnforcementLevel.ADVISORY, mandatory: analyzerProto.EnforcementLevel.MANDATORY };
        assert.deepEqual(
            served.map((p) => [p.getName(), p.getEnforcementlevel()]).sort(),
            policies.map((p) => [p.name, level[p.enforcementLevel as "advisory" | "mandatory"]]).sort(),
        );
        for (const p of served) {
            const expectsSchema = policies.find((x) => x.name === p.getName())!.configSchema !== undefined;
            assert.equal(p.getConfigschema() !== undefined, expectsSchema, p.getName());
        }
    });

    it("analyzes a resource exactly as the test harness does", async () => {
        const bad = variant(redisStatefulSet(), (s) => {
            const c = s.spec!.template.spec!.containers[0];
            delete c.livenessProbe;
            c.image = "redis:latest";
            c.env = [];
        });
        const request = new analyzerProto.AnalyzeRequest();
        request.setType(TYPES.statefulSet);
        request.setName("redis");
        request.setUrn(`urn:pulumi:test::redis-cluster-gke::${TYPES.statefulSet}::redis`);
        request.setProperties(Struct.fromJavaScript(bad));
        request.setOptions(new analyzerProto.AnalyzerResourceOptions());
        const reply = await unary<{ getDiagnosticsList(): { getPolicyname(): string; getMessage(): string }[] }>(
            client,
            "analyze",
            request,
        );
        const fromServer = reply
            .getDiagnosticsList()
            .map((d) => `${d.getPolicyname()}: ${d.getMessage()}`)
            .sort();

        const out = emptyOutcome();
        for (const p of policies)
            if (!("validateStack" in p))
                await runResourcePolicy(
                    p,
                    { type: TYPES.statefulSet, name: "redis", props: bad as unknown as Record<string, unknown> },
                    {},
                    out,
                );
        // The server prefixes each message with the policy's description.
        const description = (name: string) => policies.find((p) => p.name === name)!.description;
        const fromHarness = out.violations.map((v) => `${v.policy}: ${description(v.policy)}\n${v.message}`).sort();

        assert.deepEqual(fromServer, fromHarness);
        assert.deepEqual([...new Set(fromServer.map((d) => d.split(":")[0]))].sort(), [
            "image-digest",
            "redis-image-pinned",
            "redis-password-from-secret",
            "redis-probes",
        ]);
    });

    it("refuses a LoadBalancer Service on Redis in analyze, the call the engine makes for each resource before its step", async () => {
        const analyze = async (type: string) => {
            const request = new analyzerProto.AnalyzeRequest();
            request.setType(TYPES.service);
            request.setName("redis-public");
            request.setUrn(`urn:pulumi:test::redis-cluster-gke::${TYPES.service}::redis-public`);
            const service = {
                apiVersion: "v1",
                kind: "Service",
                metadata: { name: "redis-public" },
                spec: { type, ports: [{ port: 6379 }] },
            };
            request.setProperties(Struct.fromJavaScript(service));
            request.setOptions(new analyzerProto.AnalyzerResourceOptions());
            const reply = await unary<{ getDiagnosticsList(): { getPolicyname(): string; getEnforcementlevel(): number }[] }>(
                client,
                "analyze",
                request,
            );
            return reply.getDiagnosticsList().map((d) => [d.getPolicyname(), d.getEnforcementlevel()]);
        };
        assert.deepEqual(await analyze("LoadBalancer"), [["redis-no-external-service", analyzerProto.EnforcementLevel.MANDATORY]]);
        assert.deepEqual(await analyze("ClusterIP"), []);
    });
});
