/**
 * Which loopback blocks each integration test file uses: its redis-server processes (and any
 * address it dials on purpose) are on 127.0.<block>.x of its own blocks only, so files never
 * collide, whether mocha runs them one after another or two runs share a machine.
 *
 * The convention (README, Tests):
 *  - every file in test/integration/ with a name ending in .test.ts has one entry here, even if
 *    it is empty (a file that starts no process and dials no loopback address);
 *  - no block is in two entries, nor in RESERVED_BLOCKS;
 *  - a file takes its blocks with `loopbackBlocks(__filename)`; a number written in the file
 *    instead (`block: 12`, `loopbackAddresses(12, …)`, "127.0.12.11", `--block 12`) must be one
 *    of its own blocks. test/unit/loopbackBlocks.test.ts checks all of this.
 */
import * as path from "path";
import { BENCH_BLOCK_RANGE } from "../../bench/blocks";

export const LOOPBACK_BLOCKS: Readonly<Record<string, readonly number[]>> = {
    "acl.test.ts": [240],
    "aclExec.test.ts": [241],
    "appBundle.test.ts": [36],
    "appLimits.test.ts": [140, 141],
    "badinput.test.ts": [34],
    "demo.test.ts": [103],
    "failover.test.ts": [20, 21, 22, 23, 24],
    "failoverLag.test.ts": [151, 152],
    "formation-local.test.ts": [35],
    "formation.test.ts": [10, 11, 12, 13, 14, 15],
    "formationTimeout.test.ts": [170],
    "formedReplicaLinks.test.ts": [150],
    "heal.test.ts": [30],
    "heavySlots.test.ts": [153, 154],
    "kubernetesExec.test.ts": [18],
    "loadingNode.test.ts": [155],
    "localScale.test.ts": [214],
    "pod.test.ts": [],
    "postDeployCheck.test.ts": [215],
    "probe.test.ts": [31],
    "rebalance.test.ts": [16, 17],
    "redisNode.test.ts": [9],
    "refresh.test.ts": [212],
    "resume.test.ts": [19],
    "runtime.test.ts": [100],
    "scale.test.ts": [32, 33],
    "scaleIn.test.ts": [210, 211],
    "scaleInExec.test.ts": [213],
    "server.test.ts": [25, 26, 27, 28, 29],
    "startscript.test.ts": [],
    "startscriptDns.test.ts": [130],
    "supervisor.test.ts": [102],
    "surgeRoll.test.ts": [195],
    "surgeRuntime.test.ts": [216, 217],
    "surge.test.ts": [220],
    "surgeExec.test.ts": [221],
    "takeoverOffset.test.ts": [190],
    "tls.test.ts": [230],
};

/** Blocks no test file may take, and why. */
export const RESERVED_BLOCKS: ReadonlyArray<readonly [first: number, last: number, why: string]> = [
    [0, 0, "127.0.0.x is localhost: servers on ephemeral ports (127.0.0.1:0) share it"],
    [1, 1, "the local cluster's default (`npm run demo`, `npm run local`)"],
    [BENCH_BLOCK_RANGE.first, BENCH_BLOCK_RANGE.last, "the benchmarks (bench/blocks.ts)"],
    [255, 255, "not a usable block"],
];

/** The blocks of the test file `file` (pass `__filename`). */
export function loopbackBlocks(file: string): readonly number[] {
    const name = path.basename(file);
    const blocks = LOOPBACK_BLOCKS[name];
    if (!blocks) {
        throw new Error(
            `${name} has no loopback blocks: add "${name}": [<block>, …] to LOOPBACK_BLOCKS in test/support/loopbackBlocks.ts, ` +
                `with blocks no other file has (npx mocha test/unit/loopbackBlocks.test.ts lists the free ones)`,
        );
    }
    return blocks;
}
