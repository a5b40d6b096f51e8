/**
 * The policy pack compiles on its own, as `pulumi policy publish` ships it: its directory alone, with
 * only the packages its package.json declares (TypeScript, ts-node and the types among them, pinned to
 * the versions this repository tests with). Offline: the declared packages are linked from this
 * repository's node_modules into a directory outside it, so nothing undeclared can be resolved from
 * the pack's files; a version that differs from the tested one fails the test.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const PACK = path.join(ROOT, "policy");

interface PackageJson {
    readonly version: string;
    readonly dependencies?: Record<string, string>;
    readonly devDependencies?: Record<string, string>;
}

const readPackage = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as PackageJson;
const bare = (version: string) => version.replace(/^v/, "");

/** The pack's files and its declared packages (linked), in a fresh directory outside the repository. */
function isolatedPack(): { dir: string; declared: Record<string, string> } {
    const pkg = readPackage(PACK);
    const declared = { ...pkg.dependencies, ...pkg.devDependencies };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "policy-pack-"));
    for (const f of fs.readdirSync(PACK).filter((f) => f !== "node_modules"))
        fs.cpSync(path.join(PACK, f), path.join(dir, f), { recursive: true });
    for (const name of Object.keys(declared)) {
        const link = path.join(dir, "node_modules", name);
        fs.mkdirSync(path.dirname(link), { recursive: true });
        fs.symlinkSync(path.join(ROOT, "node_modules", name), link, "dir");
    }
    return { dir, declared };
}

function tsc(dir: string): { status: number | null; out: string } {
    const r = spawnSync(process.execPath, [path.join(dir, "node_modules", "typescript", "bin", "tsc"), "-p", dir, "--noEmit"], {
        cwd: dir,
        encoding: "utf8",
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("policy pack: compiles alone with what its package.json declares", function () {
    this.timeout(120_000);
    let pack: { dir: string; declared: Record<string, string> };
    before(() => (pack = isolatedPack()));
    after(() => fs.rmSync(pack.dir, { recursive: true, force: true }));

    it("declares TypeScript, ts-node and the Node types, each pinned to the version tested here", () => {
        for (const name of ["typescript", "ts-node", "@types/node", "@pulumi/policy", "@pulumi/pulumi"]) {
            assert.ok(pack.declared[name], `policy/package.json does not declare ${name}`);
        }
        for (const [name, version] of Object.entries(pack.declared)) {
            assert.match(version, /^\d+\.\d+\.\d+$/, `${name}: pin an exact version, not ${version}`);
            assert.equal(
                bare(readPackage(path.join(ROOT, "node_modules", name)).version),
                version,
                `${name}: the repository tests another version`,
            );
        }
    });

    it("type-checks with the declared TypeScript and nothing else", () => {
        const r = tsc(pack.dir);
        assert.equal(r.status, 0, r.out);
    });

    it("loads through the declared ts-node with type checking, as the Pulumi CLI runs a TypeScript pack", () => {
        const r = spawnSync(
            process.execPath,
            ["-r", path.join(pack.dir, "node_modules", "ts-node", "register"), "-e", 'console.log(require("./policies").policies.length)'],
            { cwd: pack.dir, encoding: "utf8" },
        );
        assert.equal(r.status, 0, r.stderr);
        assert.ok(Number(r.stdout.trim()) >= 12, r.stdout);
    });

    it("an import of a package it does not declare fails (the isolation holds)", () => {
        const extra = path.join(pack.dir, "undeclared.ts");
        const config = path.join(pack.dir, "tsconfig.json");
        const original = fs.readFileSync(config, "utf8");
        try {
            // yaml is in the repository's node_modules, not in the pack's declarations.
            fs.writeFileSync(extra, 'import { parse } from "yaml";\nexport const x = parse("a: 1");\n');
            const tsconfig = JSON.parse(original) as { files: string[] };
            fs.writeFileSync(config, JSON.stringify({ ...tsconfig, files: [...tsconfig.files, "undeclared.ts"] }));
            const r = tsc(pack.dir);
            assert.notEqual(r.status, 0);
            assert.match(r.out, /Cannot find module 'yaml'/);
        } finally {
            fs.writeFileSync(config, original);
            fs.rmSync(extra, { force: true });
        }
    });
});
