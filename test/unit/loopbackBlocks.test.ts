/**
 * Every integration test file has loopback blocks of its own (test/support/loopbackBlocks.ts):
 * two files on one block start redis-server on the same addresses, and whichever starts second
 * fails or, worse, talks to the other file's nodes. This reads the registry and the files' source.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { BENCH_BLOCKS, BENCH_BLOCK_RANGE } from "../../bench/blocks";
import { LOOPBACK_BLOCKS, RESERVED_BLOCKS } from "../support/loopbackBlocks";

const INTEGRATION = path.resolve(__dirname, "../integration");
const REGISTRY = "test/support/loopbackBlocks.ts";

/** Ways a file can write a block number down (anything else should come from loopbackBlocks(__filename)). */
const WRITTEN_BLOCK: readonly RegExp[] = [
    /127\.0\.(\d{1,3})\.\d{1,3}/g, // an address
    /127\.0\.(\d{1,3})\.x/g, // an address in a comment
    /\bblock:\s*(\d+)/g, // startLocalCluster({ block: N })
    /"--block",\s*"(\d+)"/g, // the CLI's flag
    /--block[= ](\d+)/g,
    /loopbackAddresses\(\s*(\d+)/g,
    /\b[A-Z_]*BLOCKS?\s*=\s*"?(\d+)/g, // const BLOCK = 30 (or "30")
];
/** A list of blocks: pickFreeBlock([20, 21, …]). */
const WRITTEN_LIST = /pickFreeBlock\(\[([\d,\s]+)\]/g;

interface Written {
    readonly block: number;
    readonly line: number;
    readonly text: string;
}

/** Block numbers written in `source`, with where. */
export function writtenBlocks(source: string): Written[] {
    const found: Written[] = [];
    const lines = source.split("\n");
    lines.forEach((text, i) => {
        const add = (block: number) => block !== 0 && found.push({ block, line: i + 1, text: text.trim() });
        for (const pattern of WRITTEN_BLOCK) for (const m of text.matchAll(pattern)) add(Number(m[1]));
        for (const m of text.matchAll(WRITTEN_LIST)) for (const n of m[1].split(",")) add(Number(n.trim()));
    });
    return found;
}

const reservedWhy = (block: number) => RESERVED_BLOCKS.find(([a, b]) => block >= a && block <= b)?.[2];

/** Blocks no entry has and nothing reserves, as ranges: "2-8, 37-39, …". */
function freeBlocks(): string {
    const used = new Set(Object.values(LOOPBACK_BLOCKS).flat());
    const free = Array.from({ length: 256 }, (_, b) => b).filter((b) => !used.has(b) && !reservedWhy(b));
    const ranges: [number, number][] = [];
    for (const b of free) {
        const last = ranges[ranges.length - 1];
        if (last && b === last[1] + 1) last[1] = b;
        else ranges.push([b, b]);
    }
    return ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(", ");
}

const integrationFiles = () =>
    fs
        .readdirSync(INTEGRATION)
        .filter((f) => f.endsWith(".test.ts"))
        .sort();

describe("loopback blocks: every integration test file on blocks of its own", () => {
    it("every integration test file has an entry, and every entry is a file", () => {
        const problems: string[] = [];
        for (const file of integrationFiles()) {
            if (LOOPBACK_BLOCKS[file]) continue;
            const written = [...new Set(writtenBlocks(fs.readFileSync(path.join(INTEGRATION, file), "utf8")).map((w) => w.block))];
            problems.push(
                `test/integration/${file} has no loopback blocks. Add "${file}": [<block>, …] to LOOPBACK_BLOCKS in ${REGISTRY} ` +
                    `(an empty list if it starts no process and dials no 127.0.<block>.x address), with blocks no other file has ` +
                    `(free: ${freeBlocks()})${written.length ? `; it writes ${written.join(", ")} now` : ""}. In the file, take them with ` +
                    `\`const [BLOCK] = loopbackBlocks(__filename)\` (import { loopbackBlocks } from "../support/loopbackBlocks") instead of numbers.`,
            );
        }
        for (const file of Object.keys(LOOPBACK_BLOCKS)) {
            if (!fs.existsSync(path.join(INTEGRATION, file)))
                problems.push(`${REGISTRY} has an entry for ${file}, which is not in test/integration/: remove it`);
        }
        assert.deepStrictEqual(problems, []);
    });

    it("no block belongs to two files, and none is reserved", () => {
        const problems: string[] = [];
        const owner = new Map<number, string>();
        for (const [file, blocks] of Object.entries(LOOPBACK_BLOCKS)) {
            for (const block of blocks) {
                if (!Number.isInteger(block) || block < 0 || block > 255) problems.push(`${file}: ${block} is not a block (0-255)`);
                const why = reservedWhy(block);
                if (why) problems.push(`${file}: block ${block} is reserved (${why}); use a free one (free: ${freeBlocks()})`);
                const other = owner.get(block);
                if (other)
                    problems.push(
                        `block ${block} is in two entries, ${other} and ${file}: give one of them a free block (free: ${freeBlocks()})`,
                    );
                owner.set(block, file);
            }
        }
        assert.deepStrictEqual(problems, []);
    });

    it("every benchmark's blocks are in the benchmarks' reserved range, and no two benchmarks share one", () => {
        const owner = new Map<number, string>();
        for (const [bench, blocks] of Object.entries(BENCH_BLOCKS)) {
            for (const block of blocks) {
                assert.ok(
                    block >= BENCH_BLOCK_RANGE.first && block <= BENCH_BLOCK_RANGE.last,
                    `bench/blocks.ts: ${bench} has block ${block}, outside ${BENCH_BLOCK_RANGE.first}-${BENCH_BLOCK_RANGE.last}`,
                );
                assert.ok(!owner.has(block), `bench/blocks.ts: block ${block} belongs to ${owner.get(block)} and ${bench}`);
                owner.set(block, bench);
            }
        }
    });

    it("no file writes down a block that is not its own", () => {
        const problems: string[] = [];
        for (const file of integrationFiles()) {
            const own = LOOPBACK_BLOCKS[file] ?? [];
            for (const w of writtenBlocks(fs.readFileSync(path.join(INTEGRATION, file), "utf8"))) {
                if (own.includes(w.block)) continue;
                problems.push(
                    `test/integration/${file}:${w.line} writes block ${w.block} ("${w.text}"), but its blocks are [${own.join(", ")}] ` +
                        `(${REGISTRY}): take them with loopbackBlocks(__filename), or, if ${w.block} is free (free: ${freeBlocks()}), add it to its entry`,
                );
            }
        }
        assert.deepStrictEqual(problems, []);
    });

    it("the scan finds every way of writing a block used in these tests (so a file cannot slip past it)", () => {
        const source = [
            'const r = runCli(["up", "--dir", dir, "--block", "17"]);',
            "const c = await startLocalCluster({ masters: 3, block: 12 });",
            "const hosts = loopbackAddresses(13, 8);",
            'const host = "127.0.31.21";',
            "block: await pickFreeBlock([25, 26]),",
            "const BLOCK = 30;",
            'const BLOCK = "102";',
            "npm run local -- up --block 44",
            "on 127.0.0.1:0, which is not a block",
        ].join("\n");
        assert.deepStrictEqual(
            writtenBlocks(source).map((w) => [w.line, w.block]),
            [
                [1, 17],
                [2, 12],
                [3, 13],
                [4, 31],
                [5, 25],
                [5, 26],
                [6, 30],
                [7, 102],
                [8, 44],
            ],
        );
    });
});
