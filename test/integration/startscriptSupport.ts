/**
 * Running components/redis/node-start.sh from tests, with its resolver injected
 * through RESOLVE_CMD. Shared by the start-script and healing tests.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ACL_USERS, AclUserName, renderAclTemplate } from "../../components/redis/acl";

export const NODE_START_SCRIPT = path.resolve(__dirname, "../../components/redis/node-start.sh");

/** A resolver for RESOLVE_CMD: prints the IPv4 of a name listed in `hostsFile` (`name ip` lines), fails otherwise. */
export function writeResolver(dir: string, hostsFile: string): string {
    const file = path.join(dir, "resolve.sh");
    fs.writeFileSync(file, `#!/bin/sh\nawk -v n="$1" '$1 == n { print $2; found = 1 } END { exit !found }' '${hostsFile}'\n`, {
        mode: 0o755,
    });
    return file;
}

export function writeHosts(file: string, hosts: Record<string, string>): void {
    fs.writeFileSync(
        file,
        Object.entries(hosts)
            .map(([name, ip]) => `${name} ${ip}\n`)
            .join(""),
    );
}

export interface NodeStartRun {
    status: number | null;
    stdout: string;
    stderr: string;
}

/** Runs node-start.sh with `env` (nothing inherited but PATH) and `command` as what it execs. */
export function runNodeStart(
    shell: readonly string[],
    env: Record<string, string>,
    command: string[] = ["sh", "-c", "echo exec-reached"],
): NodeStartRun {
    const r = spawnSync(shell[0], [...shell.slice(1), NODE_START_SCRIPT, ...command], {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
        timeout: 20_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * POSIX shells to run the scripts under: dash (Debian's sh, as in the official Redis
 * image) and bash in POSIX mode, when installed.
 */
export const POSIX_SHELLS: ReadonlyArray<readonly string[]> = [["dash"], ["bash", "--posix"]].filter(
    (s) => spawnSync("sh", ["-c", `command -v ${s[0]}`]).status === 0,
);

/**
 * The users Secret (one file a user) and the ACL template as the pod mounts them, in `dir`; returns
 * the env that points node-start.sh at them. `passwords` overrides some users' passwords.
 */
export function writeUsers(dir: string, passwords: Partial<Record<AclUserName, string>> = {}): Record<string, string> {
    const users = path.join(dir, "users");
    fs.mkdirSync(users, { recursive: true });
    for (const u of ACL_USERS) fs.writeFileSync(path.join(users, u), passwords[u] ?? `${u}-password-0123456789`);
    const template = path.join(dir, "users.acl");
    fs.writeFileSync(template, renderAclTemplate());
    return { REDIS_USERS_DIR: users, REDIS_ACL_TEMPLATE: template };
}
