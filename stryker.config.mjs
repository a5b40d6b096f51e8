// @ts-check
/**
 * Mutation testing of the decision modules (`npm run mutation`; README, "Mutation testing").
 * StrykerJS changes one thing at a time in the code below (an operator, a condition, a constant,
 * a string) and runs the unit and policy tests that cover it: a change no test notices
 * ("survived") is a claim no test holds. Not run in CI: a full run takes tens of minutes.
 */
import { readFileSync } from "node:fs";

/**
 * "file:first-last" lines of a top-level function, found by name, so the range follows the code
 * when lines move. Prettier ends every top-level function with a line holding only "}".
 * @param {string} file
 * @param {string} name
 */
function fn(file, name) {
    const lines = readFileSync(file, "utf8").split("\n");
    const start = lines.findIndex((l) => new RegExp(`^export (async )?function ${name}\\b`).test(l));
    if (start < 0) throw new Error(`stryker.config.mjs: ${file} has no top-level function ${name}; point the config at where it went`);
    const end = lines.findIndex((l, i) => i > start && l === "}");
    return `${file}:${start + 1}-${end + 1}`;
}

/** The formation planners (pure): which planner runs, placement, a fresh and an existing cluster, slot ranges. */
export const PLANNERS = [
    "components/formation/plan.ts",
    "components/formation/placement.ts",
    "components/formation/planFresh.ts",
    "components/formation/planExisting.ts",
    "components/formation/slots.ts",
    "components/formation/planConverge.ts",
    "components/formation/planDrain.ts",
];
export const CONFIG = ["components/config.ts", "components/configKeys.ts", "components/shape.ts"];
export const MANIFESTS = "components/redis/manifests.ts";
/** The formation's pure checks, wherever they live. */
export const FORMATION_CHECKS = [
    fn("components/formation/clusterState.ts", "formedPending"),
    fn("components/formation/provider.ts", "checkFormationInputs"),
    fn("components/formation/provider.ts", "diffFormation"),
];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
    packageManager: "npm",
    testRunner: "mocha",
    mochaOptions: { config: "test/mutation.mocharc.json" },
    checkers: ["typescript"],
    // The type checker drops mutants that would not compile; checking only components/ keeps it fast.
    tsconfigFile: "tsconfig.mutation.json",
    // The planners, config, shape and manifests whole; from the formation, its pure checks.
    mutate: [...PLANNERS, ...CONFIG, MANIFESTS, ...FORMATION_CHECKS],
    coverageAnalysis: "perTest",
    // Two cores, shared: one test process, one type checker.
    concurrency: 1,
    // A mutant that loops (e.g. a matching that never ends) is cut off soon after the tests' normal time.
    timeoutMS: 5000,
    reporters: ["clear-text", "progress", "html", "json"],
    htmlReporter: { fileName: "reports/mutation/mutation.html" },
    jsonReporter: { fileName: "reports/mutation/mutation.json" },
    thresholds: { high: 90, low: 80, break: null },
    tempDirName: ".stryker-tmp",
};
