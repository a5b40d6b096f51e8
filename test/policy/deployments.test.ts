/**
 * Pulumi Deployments readiness: `pulumi up` on a runner that has node, npm and the default
 * executor image's tools (kubectl, gcloud, gke-gcloud-auth-plugin), and nothing of this
 * machine. Checked three ways:
 *  - statically: the modules loaded at `pulumi up` spawn nothing, read no absolute host
 *    paths, and import only Node built-ins and declared (non-dev) dependencies;
 *  - the GKE kubeconfig authenticates through gke-gcloud-auth-plugin only;
 *  - dynamically: the formation provider, run against a fake Kubernetes API server,
 *    opens connections to that API server only (never to a pod address) and starts no
 *    process — Redis is reached by exec through the Kubernetes API.
 * Plus the examples in deploy/ are what they claim: an ESC environment whose config the
 * program accepts, and deployment settings that preview pull requests without credentials.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { builtinModules } from "module";
import type { AddressInfo } from "net";
import { parse as parseYaml } from "yaml";
import { runProgram } from "../support/mocks";
import { formationProvider } from "../../components/formation/provider";
import { validFormationInputs } from "../support/formationInputs";
import { PROJECT, parseSettings } from "../../components/config";
import { fakeKubeconfig } from "../support/fakeKubeApi";

const repoRoot = path.resolve(__dirname, "../..");
const EXECUTOR_TOOLS = ["kubectl", "gcloud", "gke-gcloud-auth-plugin"];

/** Runtime imports of a TS source (type-only imports and `typeof import(...)` excluded). */
function runtimeImports(source: string): string[] {
    const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    const found: string[] = [];
    for (const m of code.matchAll(/^\s*import\s+(?!type\b)(?:[^'"]*?\s+from\s+)?["']([^"']+)["']/gm)) found.push(m[1]);
    for (const m of code.matchAll(/^\s*export\s+(?!type\b)[^'"]*?\s+from\s+["']([^"']+)["']/gm)) found.push(m[1]);
    for (const m of code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) found.push(m[1]);
    return found;
}

/** Local modules reachable from index.ts at run time, each with its package imports. */
function programModules(): Map<string, string[]> {
    const modules = new Map<string, string[]>();
    const visit = (file: string) => {
        if (modules.has(file)) return;
        const imports = runtimeImports(fs.readFileSync(file, "utf8"));
        modules.set(
            file,
            imports.filter((i) => !i.startsWith(".")),
        );
        for (const rel of imports.filter((i) => i.startsWith("."))) {
            const base = path.resolve(path.dirname(file), rel);
            const target = [`${base}.ts`, path.join(base, "index.ts"), base].find((f) => fs.existsSync(f) && fs.statSync(f).isFile());
            assert.ok(target, `${path.relative(repoRoot, file)} imports ${rel}, which does not exist`);
            if (target.endsWith(".ts")) visit(target);
        }
    };
    visit(path.join(repoRoot, "index.ts"));
    return modules;
}

describe("Pulumi Deployments readiness", () => {
    it("the program loads only Node built-ins and declared dependencies, spawns nothing and reads no host paths", () => {
        const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { dependencies: Record<string, string> };
        const modules = programModules();
        assert.ok(modules.size >= 5, `only ${modules.size} modules found from index.ts`);
        for (const [file, imports] of modules) {
            const where = path.relative(repoRoot, file);
            for (const spec of imports) {
                const name = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0];
                const builtin = builtinModules.includes(name.replace(/^node:/, ""));
                assert.notEqual(name.replace(/^node:/, ""), "child_process", `${where} spawns processes`);
                assert.ok(builtin || name in pkg.dependencies, `${where} imports ${spec}, which is not a (non-dev) dependency`);
            }
            const source = fs.readFileSync(file, "utf8");
            assert.doesNotMatch(source, /["'`]\/(usr|etc|opt|var|home|root|tmp)\//, `${where} reads a host path`);
            assert.doesNotMatch(source, /homedir\(\)/, `${where} depends on the home directory`);
        }
    });

    it("the GKE kubeconfig authenticates with gke-gcloud-auth-plugin, a tool of the executor image", async () => {
        const run = await runProgram({
            config: { "redis-cluster-gke:target": "gke", "gcp:project": "deploy-test", "gcp:region": "europe-west4" },
        });
        const providers = run.ofType("pulumi:providers:kubernetes");
        assert.equal(providers.length, 1);
        const kubeconfig = parseYaml(String(providers[0].inputs.kubeconfig)) as {
            users: { user: { exec?: { command: string }; token?: string } }[];
        };
        const commands = kubeconfig.users.map((u) => u.user.exec?.command);
        assert.deepEqual(commands, ["gke-gcloud-auth-plugin"]);
        assert.ok(commands.every((c) => c !== undefined && EXECUTOR_TOOLS.includes(c)));
        assert.ok(
            kubeconfig.users.every((u) => u.user.token === undefined),
            "no token that would expire in state",
        );
    });

    describe("the formation provider against a fake Kubernetes API", () => {
        const podIps = ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14", "192.0.2.15"];
        let server: http.Server;
        let apiPort: number;
        const requests: string[] = [];
        const execs: string[] = [];

        before(async () => {
            server = http.createServer((req, res) => {
                requests.push(`${req.method} ${req.url}`);
                res.setHeader("content-type", "application/json");
                const url = new URL(req.url ?? "/", "http://x");
                if (url.pathname === "/api/v1/namespaces/redis/pods") {
                    const items = podIps.map((ip, i) => ({
                        metadata: { name: `redis-${i}`, namespace: "redis" },
                        spec: { nodeName: `node-${i % 3}` },
                        status: { podIP: ip, conditions: [{ type: "Ready", status: "True" }] },
                    }));
                    res.end(JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata: {}, items }));
                } else if (url.pathname === "/api/v1/nodes") {
                    res.end(JSON.stringify({ kind: "NodeList", apiVersion: "v1", metadata: {}, items: [] }));
                } else {
                    res.statusCode = 404;
                    res.end(JSON.stringify({ kind: "Status", status: "Failure", code: 404 }));
                }
            });
            // exec arrives as a WebSocket upgrade; refuse it so formation stops after its first command.
            server.on("upgrade", (req, socket) => {
                execs.push(req.url ?? "");
                socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
            });
            await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
            apiPort = (server.address() as AddressInfo).port;
        });

        after(async () => {
            await new Promise<void>((resolve) => server.close(() => resolve()));
        });

        it("talks to the API server only: pods are listed and commands exec'd through it, never dialled", async () => {
            const kubeconfig = fakeKubeconfig(apiPort);

            const dialled: string[] = [];
            const spawned: string[] = [];
            const originalConnect = net.Socket.prototype.connect;
            const childProcess = require("child_process") as Record<string, unknown>;
            const spawners = ["spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync", "fork"] as const;
            const originals = Object.fromEntries(spawners.map((k) => [k, childProcess[k]]));
            net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
                // net.connect hands over its normalized [options, callback] array as the first argument.
                const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
                const o = first as { host?: string; port?: number; path?: string } | number;
                dialled.push(typeof o === "object" ? (o.path ?? `${o.host ?? "localhost"}:${o.port}`) : `${args[1] ?? "localhost"}:${o}`);
                return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
            } as typeof net.Socket.prototype.connect;
            for (const k of spawners) {
                childProcess[k] = (...args: unknown[]) => {
                    spawned.push(String(args[0]));
                    throw new Error(`the formation provider must not start processes (${k} ${String(args[0])})`);
                };
            }
            let failure: Error | undefined;
            try {
                await formationProvider.create!({
                    ...validFormationInputs(kubeconfig),
                    headlessServiceName: "redis-headless",
                    timeoutMs: 1000,
                });
            } catch (e) {
                failure = e as Error;
            } finally {
                net.Socket.prototype.connect = originalConnect;
                for (const k of spawners) childProcess[k] = originals[k];
            }

            assert.ok(failure, "formation cannot succeed when every exec is refused");
            assert.ok(
                requests.some((r) => r.startsWith("GET /api/v1/namespaces/redis/pods")),
                `requests: ${requests.join(", ")}`,
            );
            assert.ok(
                execs.length > 0 && execs.every((u) => /^\/api\/v1\/namespaces\/redis\/pods\/redis-\d+\/exec\?/.test(u)),
                `execs: ${execs.join(", ")}`,
            );
            assert.ok(
                execs.some((u) => decodeURIComponent(u).includes("command=/scripts/rediscli.sh")),
                "redis-cli runs inside the pod, through the pod's own helper",
            );
            assert.deepEqual(spawned, []);
            assert.ok(dialled.length > 0);
            assert.deepEqual([...new Set(dialled)], [`127.0.0.1:${apiPort}`], "connections other than the API server");
            assert.ok(!dialled.some((d) => podIps.some((ip) => d.startsWith(ip))));
        });
    });

    describe("deploy/ examples", () => {
        interface EscEnvironment {
            values: {
                gcp: {
                    login: {
                        "fn::open::gcp-login": {
                            project: number;
                            oidc: { workloadPoolId: string; providerId: string; serviceAccount: string };
                        };
                    };
                };
                environmentVariables: Record<string, string>;
                pulumiConfig: Record<string, string>;
            };
        }
        const esc = (file = "redis-cluster-gke-dev.yaml") =>
            parseYaml(fs.readFileSync(path.join(repoRoot, "deploy/esc", file), "utf8")) as EscEnvironment;

        it("the ESC environment logs in to GCP by OIDC and feeds the program config it accepts", () => {
            const { values } = esc();
            const login = values.gcp.login["fn::open::gcp-login"];
            assert.equal(typeof login.project, "number", "gcp-login wants the project number");
            assert.match(login.oidc.serviceAccount, /^[a-z][-a-z0-9]+@[-a-z0-9]+\.iam\.gserviceaccount\.com$/);
            assert.ok(login.oidc.workloadPoolId && login.oidc.providerId);
            // Every credential is the short-lived token from the login, never a literal.
            for (const key of ["GOOGLE_OAUTH_ACCESS_TOKEN", "CLOUDSDK_AUTH_ACCESS_TOKEN"])
                assert.equal(values.environmentVariables[key], "${gcp.login.accessToken}", key);
            assert.equal(values.pulumiConfig["gcp:accessToken"], "${gcp.login.accessToken}");
            // The program's own validation accepts the config the environment provides (target gke).
            const { "gcp:accessToken": _token, ...programConfig } = values.pulumiConfig;
            const settings = parseSettings(programConfig, new Set());
            assert.equal(settings.target, "gke");
            assert.equal(settings.gke?.project, values.environmentVariables.CLOUDSDK_CORE_PROJECT);
        });

        it("pull-request previews get their own environment: the same program config, a different, read-only account", () => {
            const write = esc().values;
            const preview = esc("redis-cluster-gke-dev-preview.yaml").values;
            const accountOf = (v: EscEnvironment["values"]) => v.gcp.login["fn::open::gcp-login"].oidc.serviceAccount;
            assert.notEqual(accountOf(preview), accountOf(write));
            assert.match(accountOf(preview), /previewer@/);
            assert.deepEqual(preview.pulumiConfig, write.pulumiConfig, "a preview of the same stack sees the same config");
            // Each login names its own environment in the token's subject, so GCP can tell them apart.
            for (const v of [write, preview]) {
                const oidc = v.gcp.login["fn::open::gcp-login"].oidc as { subjectAttributes?: string[] };
                assert.deepEqual(oidc.subjectAttributes, ["currentEnvironment.name"]);
            }
            // The previewer's documented roles only read.
            const text = fs.readFileSync(path.join(repoRoot, "deploy/esc/redis-cluster-gke-dev-preview.yaml"), "utf8");
            const roles = [...text.matchAll(/roles\/([\w.]+)/g)].map((m) => m[1]).filter((r) => r !== "iam.workloadIdentityUser");
            assert.ok(roles.length >= 3, roles.join(", "));
            for (const role of roles) assert.match(role, /\.(viewer|networkViewer|serviceAccountViewer|securityReviewer)$/, role);
        });

        /** Runs the settings' pre-run commands as Deployments would, in `dir`, with a `pulumi` that only lists environments. */
        function runPreRunCommands(dir: string, operation: string): void {
            const settings = JSON.parse(fs.readFileSync(path.join(repoRoot, "deploy/deployment-settings.json"), "utf8")) as {
                operationContext: { preRunCommands: string[] };
            };
            const bin = path.join(dir, "bin");
            fs.mkdirSync(bin);
            fs.writeFileSync(
                path.join(bin, "pulumi"),
                '#!/bin/sh\n[ "$*" = "config env ls" ] && grep -A9 "^environment:" "Pulumi.$PULUMI_CI_STACK.yaml"\n',
                {
                    mode: 0o755,
                },
            );
            for (const command of settings.operationContext.preRunCommands) {
                const r = spawnSync("sh", ["-c", command], {
                    cwd: dir,
                    encoding: "utf8",
                    env: { PATH: `${bin}:${process.env.PATH}`, PULUMI_CI_OPERATION: operation, PULUMI_CI_STACK: "dev" },
                });
                assert.equal(r.status, 0, r.stderr);
            }
        }

        it("before a preview, the stack's environments are replaced by the read-only one, whatever the pull request wrote", () => {
            const forms = [
                'environment:\n  - redis-cluster-gke/dev\nconfig:\n  redis:masters: "4"\n',
                'config:\n  redis:masters: "4"\nenvironment: [redis-cluster-gke/dev, other/imports-dev]\n',
                'environment:\n\n  - redis-cluster-gke/dev\n  - other/imports-dev\nconfig:\n  redis:masters: "4"\n',
                'config:\n  redis:masters: "4"\n',
            ];
            for (const form of forms) {
                const dir = fs.mkdtempSync(path.join(os.tmpdir(), "preview-env-"));
                try {
                    fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), form);
                    runPreRunCommands(dir, "preview");
                    const after = parseYaml(fs.readFileSync(path.join(dir, "Pulumi.dev.yaml"), "utf8")) as {
                        environment: string[];
                        config: Record<string, string>;
                    };
                    assert.deepEqual(after.environment, ["redis-cluster-gke/dev-preview"], form);
                    assert.deepEqual(after.config, { "redis:masters": "4" }, form);
                } finally {
                    fs.rmSync(dir, { recursive: true, force: true });
                }
            }
            // Deployments of main keep the deployer's environment.
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "update-env-"));
            try {
                fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), forms[0]);
                runPreRunCommands(dir, "update");
                assert.equal(fs.readFileSync(path.join(dir, "Pulumi.dev.yaml"), "utf8"), forms[0]);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });

        it("the deployment settings preview pull requests, deploy main, carry no credentials and need no extra tools", () => {
            const settings = JSON.parse(fs.readFileSync(path.join(repoRoot, "deploy/deployment-settings.json"), "utf8")) as {
                sourceContext: { git: { branch: string; repoDir: string } };
                gitHub: { previewPullRequests: boolean; deployCommits: boolean };
                operationContext: {
                    preRunCommands: string[];
                    environmentVariables: Record<string, string>;
                    options: { skipInstallDependencies: boolean };
                };
            };
            assert.equal(settings.gitHub.previewPullRequests, true);
            assert.equal(settings.gitHub.deployCommits, true);
            assert.equal(settings.sourceContext.git.branch, "refs/heads/main");
            const projectFile = fs.readFileSync(path.join(repoRoot, settings.sourceContext.git.repoDir, "Pulumi.yaml"), "utf8");
            assert.equal((parseYaml(projectFile) as { name: string }).name, PROJECT);
            assert.equal(settings.operationContext.options.skipInstallDependencies, false, "Deployments runs npm install");
            // Only the environment swap for previews; it uses nothing but sh, awk and the pulumi CLI.
            assert.equal(settings.operationContext.preRunCommands.length, 1);
            assert.match(settings.operationContext.preRunCommands[0], /^if \[ "\$PULUMI_CI_OPERATION" = preview \]; then /);
            assert.deepEqual(
                Object.keys(settings.operationContext.environmentVariables).filter((k) => /KEY|SECRET|TOKEN|CREDENTIAL|PASSWORD/i.test(k)),
                [],
            );
        });
    });
});
