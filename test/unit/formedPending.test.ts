/**
 * formedPending (components/formation/clusterState.ts) refuses to call a cluster formed while a node
 * sees a peer failing or still in handshake, or sees slots uncovered. A mutation run showed that no
 * test broke when these two checks were removed: the tests only had links down and disagreement.
 */
import * as assert from "assert";
import { formedPending, parseClusterNodes } from "../../components/formation/clusterState";

const nodes = (lines: readonly string[]) => parseClusterNodes(lines.join("\n"));
const healthy = [
    "aaa 10.9.0.1:6379@16379 myself,master - 0 0 1 connected 0-8191",
    "bbb 10.9.0.2:6379@16379 master - 0 0 2 connected 8192-16383",
];
const report = (entries: ReturnType<typeof parseClusterNodes>) => [
    { n: { address: "10.9.0.1:6379", target: "10.9.0.1:6379" }, entries, link: "n/a" },
];
const notAgreed = () => assert.fail("must not report agreement");

describe("formedPending: failing peers and uncovered slots are not formed", () => {
    it("the healthy view is formed (the cases below differ from it in one thing)", () => {
        assert.strictEqual(
            formedPending(report(nodes(healthy)), 2, () => undefined),
            undefined,
        );
    });

    for (const flag of ["fail", "fail?", "handshake", "noaddr"]) {
        it(`a peer flagged ${flag} is named as pending`, () => {
            const view = nodes([healthy[0], healthy[1].replace(" master ", ` master,${flag} `)]);
            assert.match(
                formedPending(report(view), 2, notAgreed) ?? "",
                new RegExp(`10\\.9\\.0\\.1:6379 sees 10\\.9\\.0\\.2:6379\\(master,${flag.replace("?", "\\?")}\\)`),
            );
        });
    }

    it("slots nobody owns are named as pending", () => {
        const view = nodes([healthy[0], healthy[1].replace("8192-16383", "8192-16000")]);
        assert.match(formedPending(report(view), 2, notAgreed) ?? "", /10\.9\.0\.1:6379 sees 16001\/16384 slots/);
    });
});
