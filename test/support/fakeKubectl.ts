/**
 * A stand-in for kubectl, for scripts that call it (the post-deploy check): the two forms they use,
 * against the API server of $KUBECONFIG (the stand-in API server, fakeKubeApi.ts), with kubectl's
 * exit codes. Any other form is refused, so a script cannot depend on something this does not check.
 *   kubectl exec -n <namespace> <pod> -c <container> -- <command…>   exits with the command's code
 *   kubectl get --raw <path>                                        prints the body; non-2xx exits 1
 * `installFakeKubectl()` puts it on a PATH directory as `kubectl`.
 */
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import type { V1Status } from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";

/** A directory holding `kubectl` (this file run by the current Node with ts-node); remove it when done. */
export function installFakeKubectl(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-kubectl-"));
    const register = require.resolve("ts-node/register/transpile-only");
    const script = `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} -r ${JSON.stringify(register)} ${JSON.stringify(__filename)} "$@"\n`;
    fs.writeFileSync(path.join(dir, "kubectl"), script, { mode: 0o755 });
    return dir;
}

/** The parsed command line, or undefined for a form this stand-in does not take. */
export function parseKubectlArgs(
    argv: readonly string[],
): { kind: "exec"; namespace: string; pod: string; container: string; command: string[] } | { kind: "raw"; path: string } | undefined {
    if (argv[0] === "exec" && argv[1] === "-n" && argv[4] === "-c" && argv[6] === "--" && argv.length > 7) {
        return { kind: "exec", namespace: argv[2], pod: argv[3], container: argv[5], command: argv.slice(7) };
    }
    if (argv.length === 3 && argv[0] === "get" && argv[1] === "--raw" && argv[2].startsWith("/")) return { kind: "raw", path: argv[2] };
    return undefined;
}

/** `get --raw`: the server and bearer token of the kubeconfig's current context, one GET. */
function getRaw(kubeconfigFile: string, rawPath: string): Promise<number> {
    const kc = parseYaml(fs.readFileSync(kubeconfigFile, "utf8")) as {
        "current-context"?: string;
        contexts?: { name: string; context: { cluster: string; user: string } }[];
        clusters?: { name: string; cluster: { server: string } }[];
        users?: { name: string; user: { token?: string } }[];
    };
    const context = kc.contexts?.find((c) => c.name === kc["current-context"])?.context ?? kc.contexts?.[0]?.context;
    const server = kc.clusters?.find((c) => c.name === context?.cluster)?.cluster.server ?? "";
    const token = kc.users?.find((u) => u.name === context?.user)?.user.token ?? "";
    return new Promise<number>((resolve) => {
        const headers = { accept: "application/json, */*", authorization: `Bearer ${token}` };
        http.get(`${server}${rawPath}`, { headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
                const body = Buffer.concat(chunks).toString();
                const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
                (ok ? process.stdout : process.stderr).write(ok ? body : `Error from server: ${body}\n`);
                resolve(ok ? 0 : 1);
            });
        }).on("error", (e) => {
            process.stderr.write(`Unable to connect to the server: ${e.message}\n`);
            resolve(1);
        });
    });
}

async function main(argv: readonly string[]): Promise<number> {
    const parsed = parseKubectlArgs(argv);
    if (!parsed) {
        process.stderr.write(`fake kubectl: unsupported arguments: ${argv.join(" ")}\n`);
        return 2;
    }
    const kubeconfigFile = process.env.KUBECONFIG ?? path.join(os.homedir(), ".kube", "config");
    if (parsed.kind === "raw") return getRaw(kubeconfigFile, parsed.path);
    // client-node is slow to load: only the exec needs it.
    const k8s = await import("@kubernetes/client-node");
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfigFile);
    return new Promise<number>((resolve) => {
        const exec = new k8s.Exec(kc);
        const done = (status: V1Status) => {
            if (status.status === "Success") return resolve(0);
            const code = Number(status.details?.causes?.find((c) => c.reason === "ExitCode")?.message ?? 1);
            process.stderr.write(
                code > 0 && status.reason === "NonZeroExitCode" ? `command terminated with exit code ${code}\n` : `${status.message}\n`,
            );
            resolve(code > 0 ? code : 1);
        };
        exec.exec(parsed.namespace, parsed.pod, parsed.container, parsed.command, process.stdout, process.stderr, null, false, done).catch(
            (e: Error) => {
                process.stderr.write(`error: ${e.message}\n`);
                resolve(1);
            },
        );
    });
}

if (require.main === module) {
    void main(process.argv.slice(2)).then((code) => process.exit(code));
}
