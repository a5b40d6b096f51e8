/**
 * The ACL users and the rotation plan, pure (components/redis/acl.ts), the allowed clients' selectors
 * (components/redis/allowedClients.ts), the rotation steps' diff (components/formation/aclProvider.ts)
 * and the rotation engine's phase order over a recording transport (components/formation/rotate.ts).
 */
import * as assert from "assert";
import * as crypto from "crypto";
import {
    ACL_RULES,
    ACL_USERS,
    PASSWORD_RULE,
    RotationCommand,
    passwordHash,
    passwordProblem,
    planRotation,
    renderAclTemplate,
    renderRotationPlan,
    rotationCommandArgs,
} from "../../components/redis/acl";
import { parseAllowedClients } from "../../components/redis/allowedClients";
import { diffAclRotation, phaseOf } from "../../components/formation/aclProvider";
import { rotatePasswords } from "../../components/formation/rotate";
import { REPLICATION_PASSWORD_ARG, Transport } from "../../components/formation/transport";
import { parseWorkloadSettings } from "../../components/config";
import { hitCounterPodLabels } from "../../components/app/hitCounter";
import { renderNetworkPolicy } from "../../components/redis/manifests";

// The manifests are typed with @pulumi/kubernetes input types; here they are plain values.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Plain = any;
const sha = (p: string) => crypto.createHash("sha256").update(p).digest("hex");
const HASHES = Object.fromEntries(ACL_USERS.map((u) => [u, sha(`${u}-old`)]));

describe("ACL users (components/redis/acl.ts)", () => {
    it("the template: default off first, then each user on with reset passwords and its rules; no password in it", () => {
        const lines = renderAclTemplate().trimEnd().split("\n");
        assert.deepStrictEqual(lines[0], "user default off resetpass resetkeys resetchannels -@all");
        assert.deepStrictEqual(
            lines.slice(1).map((l) => l.split(" ").slice(0, 4).join(" ")),
            ACL_USERS.map((u) => `user ${u} on resetpass`),
        );
        assert.doesNotMatch(renderAclTemplate(), /[<>#]|nopass/, "no password, hash or nopass in the ConfigMap's template");
    });

    it("least privilege: only admin has every command; the app only its key; exporter and replication no key at all", () => {
        assert.deepStrictEqual(
            ACL_USERS.filter((u) => ACL_RULES[u].rules.includes("+@all") && !ACL_RULES[u].rules.some((r) => r.startsWith("-@"))),
            ["admin"],
        );
        assert.deepStrictEqual(
            ACL_RULES.hitcounter.rules.filter((r) => r.startsWith("~")),
            ["~hits"],
        );
        for (const u of ["exporter", "replication"] as const) {
            assert.ok(ACL_RULES[u].rules.includes("resetkeys") && !ACL_RULES[u].rules.some((r) => r.startsWith("~")), u);
        }
        assert.deepStrictEqual(
            ACL_RULES.replication.rules.filter((r) => r.startsWith("+")),
            ["+psync", "+replconf", "+ping"],
        );
        assert.ok(ACL_RULES.client.rules.includes("-@dangerous") && ACL_RULES.client.rules.includes("-@admin"));
    });

    it("passwords: 16-128 of letters, digits and safe punctuation; each refusal says why and what is allowed, never the value", () => {
        assert.strictEqual(passwordProblem("abcdefghijklmnop"), undefined);
        assert.strictEqual(passwordProblem("Aa0-_.~!@#$%^&*()+=,:;?/[]{}|"), undefined);
        const cases: [string, RegExp][] = [
            ["short-pw", /^too short \(8 characters\); use 16 to 128/],
            ["x".repeat(129), /^too long \(129 characters\)/],
            ["sixteen chars here", /^holds a space, which is not allowed/],
            [">starts-with-gt-0123", /^holds '>'/],
            ["ends-with-lt-0123<", /^holds '<'/],
            ['has-a-"quote"-0123', /^holds '"'/],
            ["back\\slash-0123456", /^holds '\\'/],
            ["tab\there-0123456789", /^holds character code 9/],
            ["naïve-password-0123", /^holds character code 239/],
        ];
        for (const [password, says] of cases) {
            const problem = passwordProblem(password) ?? "";
            assert.match(problem, says, password);
            assert.ok(problem.endsWith(PASSWORD_RULE), password);
        }
    });

    it("hashes are what Redis stores: sha256 hex of the password", () => {
        assert.strictEqual(passwordHash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    });
});

describe("rotation plan (components/redis/acl.ts planRotation)", () => {
    it("nothing changes: an empty plan that says so", () => {
        const p = planRotation(HASHES, HASHES);
        assert.deepStrictEqual(p, { users: [], add: [], clients: [], prune: [] });
        assert.deepStrictEqual(renderRotationPlan(p, 6), ["password rotation: no user's password changes; nothing to do"]);
    });

    it("one client user: add its new hash and save; the client moves; prune to the new hash and save", () => {
        const after = { ...HASHES, hitcounter: sha("new") };
        assert.deepStrictEqual(planRotation(HASHES, after), {
            users: ["hitcounter"],
            add: [{ kind: "add", user: "hitcounter", hash: sha("new") }, { kind: "save" }],
            clients: ["hitcounter"],
            prune: [{ kind: "prune", user: "hitcounter", hash: sha("new") }, { kind: "save" }],
        });
    });

    it("every user: masterauth first in phase 3 (from the new Secret), admin pruned last; admin and replication have no client to wait for", () => {
        const after = Object.fromEntries(ACL_USERS.map((u) => [u, sha(`${u}-new`)]));
        const p = planRotation(HASHES, after);
        assert.deepStrictEqual(
            p.add.map((c) => (c.kind === "add" ? c.user : c.kind)),
            [...ACL_USERS, "save"],
        );
        assert.deepStrictEqual(
            p.prune.map((c) => (c.kind === "prune" ? c.user : c.kind)),
            ["masterauth", "replication", "hitcounter", "client", "exporter", "admin", "save"],
        );
        assert.deepStrictEqual(p.clients, ["hitcounter", "client", "exporter"]);
        const text = renderRotationPlan(p, 6).join("\n");
        assert.match(text, /phase 1, on every node:\n {4}ACL SETUSER admin #[0-9a-f]{8}… \(the new password next to the old\)/);
        assert.ok(!text.includes(after.admin), "the plan shows hash prefixes only");
    });

    it("the Redis commands of each step: #hash adds, resetpass #hash prunes, masterauth takes the transport's replication password", () => {
        const h = sha("x");
        const args = (c: RotationCommand) => rotationCommandArgs(c, REPLICATION_PASSWORD_ARG);
        assert.deepStrictEqual(args({ kind: "add", user: "client", hash: h }), ["ACL", "SETUSER", "client", `#${h}`]);
        assert.deepStrictEqual(args({ kind: "prune", user: "client", hash: h }), ["ACL", "SETUSER", "client", "resetpass", `#${h}`]);
        assert.deepStrictEqual(args({ kind: "masterauth" }), ["CONFIG", "SET", "masterauth", REPLICATION_PASSWORD_ARG]);
        assert.deepStrictEqual(args({ kind: "save" }), ["ACL", "SAVE"]);
    });
});

describe("rotation engine (components/formation/rotate.ts) over a recording transport", () => {
    function recorder(fail?: (target: string) => boolean) {
        const log: string[] = [];
        const transport: Transport = {
            call: async () => "",
            callEach: async (target, commands) => {
                if (fail?.(target)) throw new Error("Connection is closed.");
                for (const c of commands) log.push(`${target} ${c.slice(0, 3).join(" ")}`);
            },
            close: async () => undefined,
        };
        return { log, transport };
    }
    const nodes = ["a:6379", "b:6379"].map((address) => ({ address, target: address }));

    it("phase 1 on every node, then the clients move, then phase 3 on every node", async () => {
        const { log, transport } = recorder();
        const events: string[] = [];
        const plan = planRotation(HASHES, { ...HASHES, hitcounter: sha("new") });
        await rotatePasswords({
            plan,
            nodes,
            transport,
            log: () => undefined,
            moveClients: async (users) => void events.push(`move ${users.join(",")} after ${log.length} commands`),
        });
        assert.deepStrictEqual(events, ["move hitcounter after 4 commands"]);
        assert.deepStrictEqual(log, [
            "a:6379 ACL SETUSER hitcounter",
            "a:6379 ACL SAVE",
            "b:6379 ACL SETUSER hitcounter",
            "b:6379 ACL SAVE",
            "a:6379 ACL SETUSER hitcounter",
            "a:6379 ACL SAVE",
            "b:6379 ACL SETUSER hitcounter",
            "b:6379 ACL SAVE",
        ]);
    });

    it("a node that never answers stops the rotation in phase 1, before any client moves or any old password goes", async () => {
        const { transport } = recorder((t) => t === "b:6379");
        let moved = false;
        await assert.rejects(
            rotatePasswords({
                plan: planRotation(HASHES, { ...HASHES, client: sha("new") }),
                nodes,
                transport,
                log: () => undefined,
                moveClients: async () => void (moved = true),
                timeoutMs: 300,
            }),
            /password rotation stopped: 1 of 2 nodes did not take add, save \(b:6379: timed out .*Connection is closed\.\); every node still accepts/,
        );
        assert.strictEqual(moved, false);
    });

    it("over Kubernetes, the admin user's old password goes only once every pod's mounted copy holds the new one", async () => {
        const { log, transport } = recorder();
        const newAdmin = sha("admin-new");
        let reads = 0;
        const digests = {
            ...transport,
            credentialDigest: async (_target: string, user: string) => {
                assert.strictEqual(user, "admin");
                return ++reads > 3 ? newAdmin : HASHES.admin;
            },
        };
        const plan = planRotation(HASHES, { ...HASHES, admin: newAdmin });
        await rotatePasswords({
            plan,
            nodes,
            transport: digests,
            log: () => undefined,
            moveClients: async () => undefined,
            timeoutMs: 10_000,
        });
        assert.ok(reads >= 4, `the pods' copies were read ${reads} times`);
        assert.strictEqual(log.filter((l) => l.includes("ACL SETUSER admin")).length, 4);
    });
});

describe("allowed clients (components/redis/allowedClients.ts) in the Redis NetworkPolicy", () => {
    it("parses JSON or YAML lists; absent podLabels admit the whole namespace", () => {
        assert.deepStrictEqual(parseAllowedClients('[{"namespace":"shop","podLabels":{"app.kubernetes.io/name":"cart"}}]'), {
            value: [{ namespace: "shop", podLabels: { "app.kubernetes.io/name": "cart" } }],
        });
        assert.deepStrictEqual(parseAllowedClients("- namespace: batch\n"), { value: [{ namespace: "batch" }] });
        assert.deepStrictEqual(parseAllowedClients("[]"), { value: [] });
    });

    it("each allowed client is one peer of the client port's rule: its namespace by Kubernetes' own label AND its pods' labels", () => {
        const redis = parseWorkloadSettings({
            "redis:allowedClients": '[{"namespace":"shop","podLabels":{"app":"cart"}},{"namespace":"batch"}]',
        }).redis;
        const policy = renderNetworkPolicy({
            name: "redis",
            namespace: "redis",
            redis,
            clientPodLabels: hitCounterPodLabels("hit-counter"),
        });
        const clientRule = (policy as Plain).spec.ingress[1] as { from: unknown[]; ports: unknown[] };
        assert.deepStrictEqual(clientRule.ports, [{ protocol: "TCP", port: 6379 }]);
        assert.deepStrictEqual(clientRule.from, [
            { podSelector: { matchLabels: hitCounterPodLabels("hit-counter") } },
            {
                namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } },
                podSelector: { matchLabels: { app: "cart" } },
            },
            { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "batch" } } },
        ]);
        const none = renderNetworkPolicy({
            name: "redis",
            namespace: "redis",
            redis: parseWorkloadSettings({}).redis,
            clientPodLabels: hitCounterPodLabels("hit-counter"),
        });
        assert.strictEqual((none as Plain).spec.ingress[1].from.length, 1, "by default only the hit counter");
    });
});

describe("rotation steps (components/formation/aclProvider.ts)", () => {
    const inputs = {
        kubeconfig: "k",
        namespace: "redis",
        statefulSetName: "redis",
        containerName: "redis",
        phase: "add" as const,
        hashes: HASHES,
        providerVersion: "1",
    };
    it("a changed hash is an update (the step acts); a different phase or StatefulSet a replace; nothing changed, no diff", () => {
        assert.deepStrictEqual(diffAclRotation(inputs, inputs), { changes: false, replaces: [], deleteBeforeReplace: false });
        assert.deepStrictEqual(diffAclRotation(inputs, { ...inputs, hashes: { ...HASHES, client: sha("n") } }).changes, true);
        assert.deepStrictEqual(diffAclRotation(inputs, { ...inputs, statefulSetName: "other" }).replaces, ["statefulSetName"]);
    });
    it("each step carries out its own phase only", () => {
        const plan = planRotation(HASHES, { ...HASHES, client: sha("n") });
        assert.deepStrictEqual(phaseOf(plan, "add").prune, []);
        assert.deepStrictEqual(phaseOf(plan, "prune").add, []);
        assert.deepStrictEqual(phaseOf(plan, "add").add, plan.add);
    });
});
