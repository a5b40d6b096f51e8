/** `redis-cli --cluster check`, the verdict of Redis's own cluster manager, for the tools and the tests. */
import { spawnSync } from "child_process";

/**
 * `redis-cli --cluster check` from `address` (host:port) as `auth` (an ACL user, or `default`
 * without one), with TLS when given the CA's file: its whole output. The password travels in the
 * environment.
 */
export function redisCliCheck(address: string, auth: { readonly username?: string; readonly password: string }, caFile?: string): string {
    const user = auth.username ? ["--user", auth.username] : [];
    const r = spawnSync("redis-cli", [...user, ...(caFile ? ["--tls", "--cacert", caFile] : []), "--cluster", "check", address], {
        encoding: "utf8",
        env: { ...process.env, REDISCLI_AUTH: auth.password },
        timeout: 30_000,
    });
    return r.stdout + r.stderr;
}

/** Pure: what is wrong in a check's output (empty when clean: all slots covered, no warning, no error). */
export function clusterCheckProblems(output: string): string[] {
    const problems = output.split("\n").filter((l) => /\[WARNING\]|\[ERR\]/.test(l));
    if (!/\[OK\] All 16384 slots covered/.test(output)) problems.unshift("not all 16384 slots covered");
    return problems;
}
