/** Checks shared by the integration tests that form real clusters. */
import * as assert from "assert";
import { spawnSync } from "child_process";
import { FormResult } from "../../components/formation/form";
import { Transport } from "../../components/formation/transport";
import { Credentials, cliAuth } from "./runtime";

/** `redis-cli --cluster check` from `address` (with TLS when given the CA's file): its whole output. */
export function redisCliCheck(address: string, credentials: Credentials, caFile?: string): string {
    const auth = cliAuth(credentials);
    const r = spawnSync("redis-cli", [...auth.args, ...(caFile ? ["--tls", "--cacert", caFile] : []), "--cluster", "check", address], {
        encoding: "utf8",
        env: auth.env,
    });
    return r.stdout + r.stderr;
}

/** redis-cli finds all slots covered and nothing to warn about (no open slots, no disagreement). */
export function assertRedisCliCheckClean(address: string, credentials: Credentials, caFile?: string): void {
    const out = redisCliCheck(address, credentials, caFile);
    assert.match(out, /\[OK\] All 16384 slots covered/);
    assert.doesNotMatch(out, /\[WARNING\]|\[ERR\]/, out);
}

/** A 3x1 formation result: state ok, the planned even slot ranges, one replica per master with its link up. */
export async function assertFormed3x1(result: FormResult, transport: Transport): Promise<void> {
    assert.strictEqual(result.clusterState, "ok");
    assert.deepStrictEqual(
        result.shards.map((s) => [s.slots, s.replicas.length]),
        [
            [[[0, 5460]], 1],
            [[[5461, 10921]], 1],
            [[[10922, 16383]], 1],
        ],
    );
    for (const s of result.shards) {
        assert.match(await transport.call(s.replicas[0].address, ["INFO", "replication"]), /master_link_status:up/);
    }
}
