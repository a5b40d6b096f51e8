/**
 * The Redis password from a file (REDIS_PASSWORD_FILE: the app user's Secret, mounted), re-read
 * while the server runs. A password rotation (components/redis/acl.ts) updates the Secret; the
 * kubelet (or the local runtime) updates the file; from then on every new connection to Redis
 * authenticates with the new password. Open connections stay authenticated: Redis does not drop
 * a client when its user's password changes, so not a single hit is refused on the way.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import { Cluster } from "ioredis";
import { ConfigError } from "./config";

/** How often the file is looked at (fs.watchFile polls; inotify misses the kubelet's symlink swap). */
export const PASSWORD_FILE_POLL_MS = 1000;

/** The password in `file`: its content without a trailing newline; a clear error when unreadable or empty. */
export function readPasswordFile(file: string): string {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (e) {
        throw new ConfigError(`REDIS_PASSWORD_FILE: cannot read ${file} (${(e as Error).message})`);
    }
    const password = text.replace(/\r?\n$/, "");
    if (password === "") throw new ConfigError(`REDIS_PASSWORD_FILE: ${file} is empty`);
    return password;
}

/** What the log shows of a password: the first 8 hex digits of its sha256, enough to tell two apart. */
export function passwordFingerprint(password: string): string {
    return crypto.createHash("sha256").update(password, "utf8").digest("hex").slice(0, 8);
}

/** Gives the cluster client `password` for every connection it opens from now on (the pool's and each node's options). */
export function usePassword(redis: Cluster, password: string): void {
    const options = redis.options.redisOptions;
    if (options) options.password = password;
    for (const node of redis.nodes("all")) node.options.password = password;
}

/** Re-reads `file` while the server runs; returns the function that stops watching. */
export function watchPasswordFile(file: string, redis: Cluster, log: (line: string) => void): () => void {
    let current = redis.options.redisOptions?.password;
    const check = () => {
        let next: string;
        try {
            next = readPasswordFile(file);
        } catch (e) {
            log(`redis credentials: ${(e as Error).message}; keeping the password in use`);
            return;
        }
        if (next === current) return;
        current = next;
        usePassword(redis, next);
        log(`redis credentials: reloaded ${file} (sha256 ${passwordFingerprint(next)}…); new connections use it`);
    };
    fs.watchFile(file, { interval: PASSWORD_FILE_POLL_MS, persistent: false }, check);
    return () => fs.unwatchFile(file, check);
}
