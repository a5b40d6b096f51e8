/**
 * The version of the formation's dynamic providers, derived from their code: a hash over the source
 * files they are built from (the entry files and every file they import relatively, transitively),
 * computed when the program runs. Pulumi does not diff a dynamic provider's code, so a stack only
 * runs new provider code when an input changes; with this hash as an input, any change to those
 * files rolls out by itself at the next `pulumi up`, and unchanged code never causes an update.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** Relative imports: `from "./x"`, `require("./x")`, `import("./x")`, `export … from "./x"`. */
const RELATIVE_IMPORT = /(?:\bfrom\s+|\brequire\s*\(\s*|\bimport\s*\(\s*)["'](\.{1,2}\/[^"']+)["']/g;

/** The file a relative specifier names, as Node's TypeScript loader would resolve it. */
function resolveSource(fromFile: string, specifier: string): string {
    const base = path.resolve(path.dirname(fromFile), specifier);
    const candidates = [base, `${base}.ts`, `${base}.js`, path.join(base, "index.ts"), path.join(base, "index.js")];
    const found = candidates.find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
    if (!found) throw new Error(`provider version: ${fromFile} imports ${specifier}, which was not found`);
    return found;
}

/** The entry files and every source file they import relatively, transitively; sorted. */
export function sourceClosure(entries: readonly string[]): string[] {
    const seen = new Set<string>();
    const pending = entries.map((e) => path.resolve(e));
    while (pending.length > 0) {
        const file = pending.pop()!;
        if (seen.has(file)) continue;
        seen.add(file);
        // Comments may quote an import (this file's do); only code counts.
        const text = fs
            .readFileSync(file, "utf8")
            .replace(/\/\*[\s\S]*?\*\//g, "")
            .replace(/^\s*\/\/.*$/gm, "");
        for (const m of text.matchAll(RELATIVE_IMPORT)) pending.push(resolveSource(file, m[1]));
    }
    return [...seen].sort();
}

/** `sha256:` and 16 hex digits over the closure's file names (relative to `root`) and contents. */
export function codeVersion(entries: readonly string[], root: string): string {
    const hash = crypto.createHash("sha256");
    for (const file of sourceClosure(entries)) {
        hash.update(path.relative(root, file).split(path.sep).join("/"));
        hash.update("\0");
        hash.update(fs.readFileSync(file));
        hash.update("\0");
    }
    return `sha256:${hash.digest("hex").slice(0, 16)}`;
}

/** The entry files of the formation's dynamic providers (the formation and the scale-in drain). */
export function providerEntries(dir: string = __dirname): string[] {
    const ext = path.extname(__filename);
    return ["provider", "drain"].map((name) => path.join(dir, `${name}${ext}`));
}

let memo: string | undefined;

/** The providers' version for this program run (computed once). */
export function formationProviderVersion(): string {
    memo ??= codeVersion(providerEntries(), path.resolve(__dirname, ".."));
    return memo;
}
