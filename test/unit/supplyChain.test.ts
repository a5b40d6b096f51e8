/**
 * The production dependency tree holds nothing the project knows to be unsafe (lib/supplyChain.ts):
 * checked offline on the real tree that `npm ci` installed.
 */
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as path from "path";
import { ADVISORIES, NpmTreeNode, compareVersions, findAdvisories } from "../../lib/supplyChain";

const ROOT = path.join(__dirname, "..", "..");

describe("supply chain: the production dependency tree (offline)", () => {
    it("holds no banned package and no version below a known fix", function () {
        this.timeout(30_000);
        const tree = JSON.parse(
            execFileSync("npm", ["ls", "--omit=dev", "--all", "--json"], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 }),
        ) as NpmTreeNode;
        assert.ok(Object.keys(tree.dependencies ?? {}).length > 5, "npm ls returned no production tree");
        const findings = findAdvisories(tree);
        assert.deepEqual(
            findings.map((f) => `${f.path.join(" > ")}: ${f.advisory.reason}`),
            [],
        );
    });

    it("finds a banned package and an old version anywhere in a tree, with the path that brings it in", () => {
        const tree: NpmTreeNode = {
            dependencies: {
                "@kubernetes/client-node": {
                    version: "0.22.3",
                    dependencies: {
                        request: {
                            version: "2.88.2",
                            dependencies: { "form-data": { version: "2.3.3" }, "tough-cookie": { version: "2.5.0" } },
                        },
                    },
                },
                "form-data": { version: "4.0.6" },
                "tough-cookie": { version: "4.1.3" },
            },
        };
        assert.deepEqual(
            findAdvisories(tree).map((f) => f.path.join(" > ")),
            [
                "@kubernetes/client-node@0.22.3 > request@2.88.2",
                "@kubernetes/client-node@0.22.3 > request@2.88.2 > form-data@2.3.3",
                "@kubernetes/client-node@0.22.3 > request@2.88.2 > tough-cookie@2.5.0",
            ],
        );
        assert.ok(ADVISORIES.some((a) => a.name === "request" && a.fixedIn === undefined));
    });

    it("compares versions numerically, a pre-release before its release", () => {
        assert.equal(compareVersions("2.5.3", "2.5.4"), -1);
        assert.equal(compareVersions("2.10.0", "2.5.4"), 1);
        assert.equal(compareVersions("4.1.3", "4.1.3"), 0);
        assert.equal(compareVersions("4.1.3-rc.1", "4.1.3"), -1);
        assert.equal(compareVersions("v3", "2.9.9"), 1);
    });
});
