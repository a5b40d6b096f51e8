/**
 * providerVersion derived from the providers' code (components/formation/codeVersion.ts): the same
 * code gives the same version, any changed byte in a file they are built from a new one, so a stack
 * runs changed provider code at its next `pulumi up` and unchanged code never causes an update.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { codeVersion, formationProviderVersion, providerEntries, sourceClosure } from "../../components/formation/codeVersion";

const components = path.resolve(__dirname, "../../components");

/** Copies the closure's files (and one file outside it) into a fresh tree laid out like components/. */
function copyTree(): { root: string; entries: string[] } {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "code-version-"));
    for (const file of [...sourceClosure(providerEntries()), path.join(components, "gke.ts")]) {
        const to = path.join(root, path.relative(components, file));
        fs.mkdirSync(path.dirname(to), { recursive: true });
        fs.copyFileSync(file, to);
    }
    return { root, entries: providerEntries(path.join(root, "formation")) };
}

describe("providerVersion from the providers' code (components/formation/codeVersion.ts)", () => {
    let tree: { root: string; entries: string[] };
    before(() => (tree = copyTree()));
    after(() => fs.rmSync(tree.root, { recursive: true, force: true }));

    it("covers the files both providers are built from, transitively, and nothing else", () => {
        const names = sourceClosure(providerEntries()).map((f) => path.relative(components, f));
        for (const f of [
            "formation/provider.ts",
            "formation/drain.ts",
            "formation/form.ts",
            "formation/planDrain.ts",
            "formation/migrate.ts",
            "shape.ts",
        ])
            assert.ok(names.includes(f), `${f} is missing from ${names.join(", ")}`);
        assert.ok(!names.includes("gke.ts") && !names.includes("stack.ts"), names.join(", "));
        assert.match(formationProviderVersion(), /^sha256:[0-9a-f]{16}$/);
    });

    it("the same code gives the same version, wherever it lies", () => {
        assert.strictEqual(codeVersion(tree.entries, tree.root), formationProviderVersion());
    });

    it("one changed byte in any file of the closure gives a new version; a change elsewhere does not", () => {
        const migrate = path.join(tree.root, "formation", "migrate.ts");
        const original = fs.readFileSync(migrate);
        try {
            const changed = Buffer.from(original);
            changed[changed.length - 2] ^= 1;
            fs.writeFileSync(migrate, changed);
            assert.notStrictEqual(codeVersion(tree.entries, tree.root), formationProviderVersion());
        } finally {
            fs.writeFileSync(migrate, original);
        }
        fs.appendFileSync(path.join(tree.root, "gke.ts"), "\n// changed\n");
        assert.strictEqual(codeVersion(tree.entries, tree.root), formationProviderVersion());
    });

    it("a new import brings its file in; an import quoted in a comment does not", () => {
        const extra = path.join(tree.root, "formation", "extra.ts");
        const drain = path.join(tree.root, "formation", "drain.ts");
        const original = fs.readFileSync(drain, "utf8");
        fs.writeFileSync(extra, "export const x = 1;\n");
        try {
            fs.writeFileSync(drain, `${original}\n// import { x } from "./extra";\n`);
            assert.ok(!sourceClosure(tree.entries).includes(extra));
            fs.writeFileSync(drain, `${original}\nexport { x } from "./extra";\n`);
            assert.ok(sourceClosure(tree.entries).includes(extra));
        } finally {
            fs.writeFileSync(drain, original);
            fs.rmSync(extra);
        }
    });
});
