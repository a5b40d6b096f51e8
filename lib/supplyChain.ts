/**
 * Offline supply-chain check of the production dependency tree (`npm ls --omit=dev --all --json`).
 * The registry's audit endpoint cannot be reached from every machine that runs the tests, so the
 * advisories the project knows of are listed here: a package that must not be in the tree at all,
 * or the first version that fixes a high or critical advisory. Add an entry when the project learns
 * of one; test/unit/supplyChain.test.ts fails while the tree holds a match.
 */

/** A package the production tree must not hold, in any version or below `fixedIn`. */
export interface Advisory {
    readonly name: string;
    /** First fixed version; absent: the package is banned outright. */
    readonly fixedIn?: string;
    /** Why: the advisory and what it allows. */
    readonly reason: string;
}

export const ADVISORIES: readonly Advisory[] = [
    { name: "request", reason: "deprecated since 2020 and unmaintained; pulls form-data 2.3 and tough-cookie 2.5" },
    { name: "form-data", fixedIn: "2.5.4", reason: "CVE-2025-7783 (critical): predictable multipart boundaries allow parameter injection" },
    { name: "tough-cookie", fixedIn: "4.1.3", reason: "CVE-2023-26136 (critical): prototype pollution through cookie domains" },
];

/** A node of `npm ls --json`. */
export interface NpmTreeNode {
    readonly version?: string;
    readonly dependencies?: Readonly<Record<string, NpmTreeNode>>;
}

/** A package found in the tree, with the dependency path that brings it in. */
export interface Finding {
    readonly name: string;
    readonly version: string;
    readonly path: readonly string[];
    readonly advisory: Advisory;
}

/** Numeric compare of dotted versions (pre-release tags sort before the release, as in semver). */
export function compareVersions(a: string, b: string): number {
    const parse = (v: string) => {
        const [core, pre] = v.replace(/^v/, "").split("-", 2);
        return { parts: core.split(".").map((x) => Number(x) || 0), pre };
    };
    const x = parse(a);
    const y = parse(b);
    for (let i = 0; i < Math.max(x.parts.length, y.parts.length); i++) {
        const d = (x.parts[i] ?? 0) - (y.parts[i] ?? 0);
        if (d !== 0) return Math.sign(d);
    }
    if (x.pre && !y.pre) return -1;
    if (!x.pre && y.pre) return 1;
    return 0;
}

/** Every package in `tree` that an advisory names (banned, or older than its fix). Pure. */
export function findAdvisories(tree: NpmTreeNode, advisories: readonly Advisory[] = ADVISORIES): Finding[] {
    const findings: Finding[] = [];
    const walk = (node: NpmTreeNode, path: readonly string[]) => {
        for (const [name, child] of Object.entries(node.dependencies ?? {})) {
            const version = child.version ?? "0.0.0";
            const here = [...path, `${name}@${version}`];
            for (const advisory of advisories) {
                if (advisory.name !== name) continue;
                if (advisory.fixedIn === undefined || compareVersions(version, advisory.fixedIn) < 0) {
                    findings.push({ name, version, path: here, advisory });
                }
            }
            walk(child, here);
        }
    };
    walk(tree, []);
    return findings;
}
