/** Commands the kubelet runs "in a container" (exec probes, hooks) and its HTTP probes, on the local machine. */
import { spawn } from "child_process";
import { httpStatus } from "../lib/http";
import { signalGroup } from "../lib/process";
import { LocalProbe } from "./podTemplate";

/** Output kept of a probe, for the pod's log and `status`. */
const PROBE_OUTPUT_LIMIT = 400;
/** Output kept of a hook, for the pod's log: a preStop handover says what it did in a few lines. */
export const HOOK_OUTPUT_LIMIT = 4000;

export interface ContainerContext {
    /** The container's environment: what its exec probes and hooks see. */
    readonly env: Readonly<Record<string, string>>;
    readonly cwd: string;
}

/** Runs `argv` with the container's environment; it and what it forked are killed after `timeoutMs`. */
export function execInContainer(
    argv: readonly string[],
    ctx: ContainerContext,
    timeoutMs: number,
    outputLimit = PROBE_OUTPUT_LIMIT,
): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve) => {
        const child = spawn(argv[0], argv.slice(1), {
            detached: true,
            stdio: ["ignore", "pipe", "pipe"],
            env: { ...ctx.env },
            cwd: ctx.cwd,
        });
        let output = "";
        const collect = (d: Buffer) => {
            if (output.length < outputLimit) output += d.toString();
        };
        child.stdout?.on("data", collect);
        child.stderr?.on("data", collect);
        const timer = setTimeout(() => {
            output += `(timed out after ${timeoutMs} ms)`;
            if (child.pid) signalGroup(child.pid, "SIGKILL");
        }, timeoutMs);
        child.on("error", (e) => {
            clearTimeout(timer);
            resolve({ code: 127, output: e.message });
        });
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, output: output.slice(0, outputLimit).trim() });
        });
    });
}

/** One run of a probe: exec passes on exit 0, httpGet (to the pod's address) on 200-399. */
export async function runProbe(
    p: LocalProbe,
    ctx: ContainerContext & { readonly address: string },
): Promise<{ passed: boolean; output: string }> {
    if ("httpGet" in p.action) {
        const status = await httpStatus(`http://${ctx.address}:${p.action.httpGet.port}${p.action.httpGet.path}`, p.timeoutMs);
        return { passed: status >= 200 && status < 400, output: `GET ${p.action.httpGet.path} answered ${status || "nothing"}` };
    }
    const { code, output } = await execInContainer(p.action.exec, ctx, p.timeoutMs);
    return { passed: code === 0, output: output || `exit ${code}` };
}
