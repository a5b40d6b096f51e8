/**
 * The pure decisions of the failover agent and the preStop handover (components/redis/
 * failover-decisions.sh), run as the pods run them: sourced by dash (and bash --posix), fed the
 * texts Redis and redis-cli really print.
 */
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { POSIX_SHELLS } from "../integration/startscriptSupport";

const DECISIONS = path.resolve(__dirname, "../../components/redis/failover-decisions.sh");

const A = "a".repeat(40);
const B = "b".repeat(40);

/** INFO replication of a master, as redis-cli prints it to a pipe (CRLF lines). */
function masterInfo(replid: string, offset: number, replicas: readonly string[]): string {
    const lines = ["# Replication", "role:master", `connected_slaves:${replicas.length}`];
    replicas.forEach((r, i) => lines.push(`slave${i}:${r}`));
    lines.push(
        "master_failover_state:no-failover",
        `master_replid:${replid}`,
        `master_replid2:${"0".repeat(40)}`,
        `master_repl_offset:${offset}`,
    );
    return lines.map((l) => `${l}\r\n`).join("");
}

function replicaInfo(o: { link: string; syncing: number; replid: string; offset: number; host?: string }): string {
    return [
        "# Replication",
        "role:slave",
        `master_host:${o.host ?? "10.0.0.1"}`,
        "master_port:6379",
        `master_link_status:${o.link}`,
        "master_last_io_seconds_ago:0",
        `master_sync_in_progress:${o.syncing}`,
        `slave_read_repl_offset:${o.offset}`,
        `slave_repl_offset:${o.offset}`,
        "slave_priority:100",
        "connected_slaves:0",
        `master_replid:${o.replid}`,
        `master_repl_offset:${o.offset}`,
    ]
        .map((l) => `${l}\r\n`)
        .join("");
}

for (const shell of POSIX_SHELLS) {
    /** Runs `fn args...` with the decisions sourced; `stdin` is its input. */
    function run(fn: string, args: readonly string[], stdin = ""): string {
        const r = spawnSync(shell[0], [...shell.slice(1), "-c", `. "$0"; ${fn} "$@"`, DECISIONS, ...args], {
            input: stdin,
            encoding: "utf8",
        });
        assert.strictEqual(r.status, 0, r.stderr);
        return r.stdout.trim();
    }

    describe(`failover decisions under ${shell.join(" ")}`, () => {
        describe("reply_observation: what one probe of a master saw", () => {
            it("classifies refusals, timeouts, loading, masters, replicas and anything else", () => {
                assert.strictEqual(
                    run("reply_observation", ["1", "Could not connect to Redis at 10.0.0.1:6379: Connection refused"]),
                    "refused",
                );
                assert.strictEqual(run("reply_observation", ["124", ""]), "timeout");
                assert.strictEqual(run("reply_observation", ["0", "LOADING Redis is loading the dataset in memory"]), "loading");
                assert.strictEqual(run("reply_observation", ["0", masterInfo(A, 100, [])]), `master:${A}`);
                assert.strictEqual(
                    run("reply_observation", ["0", replicaInfo({ link: "up", syncing: 0, replid: A, offset: 1 })]),
                    "replica",
                );
                assert.strictEqual(run("reply_observation", ["1", "AUTH failed: WRONGPASS invalid username-password pair"]), "error");
                assert.strictEqual(
                    run("reply_observation", ["1", "Could not connect to Redis at 10.0.0.1:6379: No route to host"]),
                    "error",
                    "an unreachable host is not a refusal",
                );
            });
        });

        describe("death_verdict: is the master's death confirmed?", () => {
            const verdict = (known: string, ...seen: string[]) => run("death_verdict", [known, "3", ...seen]);
            it("only several refusals in a row confirm a crash", () => {
                assert.strictEqual(verdict(A, "refused", "refused"), "undecided");
                assert.strictEqual(verdict(A, "refused", "refused", "refused"), "dead-refused");
            });
            it("an answer from a new process (another replication ID, or still loading) is a death too", () => {
                assert.strictEqual(verdict(A, "refused", `master:${B}`), "dead-restarted");
                assert.strictEqual(verdict(A, "loading"), "dead-restarted");
            });
            it("the same process answering, a demoted master, or no answer without a refusal are not", () => {
                assert.strictEqual(verdict(A, "refused", `master:${A}`), "alive");
                assert.strictEqual(verdict(A, "replica"), "demoted");
                assert.strictEqual(verdict(A, "timeout"), "unreachable", "a frozen master is left to Redis");
                assert.strictEqual(verdict(A, "refused", "refused", "timeout"), "unreachable");
                assert.strictEqual(verdict(A, "error"), "unreachable");
            });
            it("without a known replication ID, an answering master proves nothing", () => {
                assert.strictEqual(verdict("-", `master:${B}`), "alive");
            });
        });

        describe("stream_digest: what the master's INFO stream said", () => {
            const me = ["10.0.0.2", "6379"];
            const online = "ip=10.0.0.2,port=6379,state=online,offset=90,lag=0";
            const digest = (known: string, since: string, text: string) => run("stream_digest", [...me, known, since], text);
            it("counts healthy answers and how long ago this replica was listed online", () => {
                const other = "ip=10.0.0.3,port=6379,state=online,offset=90,lag=0";
                const text = masterInfo(A, 100, [online]) + masterInfo(A, 110, [other]) + masterInfo(A, 120, [other]) + "END 1\n";
                assert.strictEqual(digest("-", "none", text), `ended 1 3 ${A} 2`);
            });
            it("a replica listed while still syncing is not online", () => {
                const text = masterInfo(A, 100, ["ip=10.0.0.2,port=6379,state=wait_bgsave,offset=0,lag=0"]) + "END 124\n";
                assert.strictEqual(digest("-", "none", text), `ended 124 1 ${A} none`);
                assert.strictEqual(digest(A, "4", text), `ended 124 1 ${A} 5`);
            });
            it("a new replication ID is a restart, the known one is kept for the decision", () => {
                assert.strictEqual(digest(A, "0", masterInfo(A, 100, [online]) + masterInfo(B, 0, []) + "END 1\n"), `restarted - 1 ${A} 0`);
            });
            it("a master that answers as a replica was demoted", () => {
                assert.strictEqual(
                    digest(A, "0", replicaInfo({ link: "up", syncing: 0, replid: B, offset: 5 }) + "END 1\n"),
                    `demoted - 0 ${A} 0`,
                );
            });
            it("a stream that never connected carries the state on", () => {
                assert.strictEqual(
                    digest(A, "3", "Could not connect to Redis at 10.0.0.1:6379: Connection refused\nEND 1\n"),
                    `ended 1 0 ${A} 3`,
                );
            });
        });

        describe("in_sync_verdict: was this replica in sync moments before?", () => {
            const v = (death: string, since: string, link: string, syncing: string, mine: string, stream: string, fresh = "-") =>
                run("in_sync_verdict", [death, since, "10", link, syncing, mine, stream, fresh]);
            it("listed online in the master's last answers, with the master's history", () => {
                assert.strictEqual(v("dead-refused", "0", "down", "0", A, A), "in-sync");
                assert.strictEqual(v("dead-refused", "9", "down", "0", A, A), "in-sync");
            });
            it("a replica whose link was down longer is stale", () => {
                assert.match(v("dead-refused", "10", "down", "0", A, A), /^not-in-sync its master last listed it online 10 answers/);
                assert.match(v("dead-refused", "none", "down", "0", A, A), /^not-in-sync its master never listed it/);
            });
            it("another replication history is not the master's data", () => {
                assert.match(v("dead-refused", "0", "down", "0", B, A), /^not-in-sync it holds another replication history/);
            });
            it("after a restart: in sync once resynchronized from the new process; ask again while the sync runs", () => {
                assert.strictEqual(v("dead-restarted", "none", "up", "0", B, A, B), "in-sync");
                assert.strictEqual(v("dead-restarted", "0", "down", "1", A, A, B), "syncing");
                assert.match(v("dead-refused", "none", "up", "0", B, A, B), /^not-in-sync/, "only a restart makes the new history count");
            });
        });

        describe("takeover_verdict: which replica takes over", () => {
            const me = "10.0.0.5:6379";
            const v = (offset: number, ...candidates: string[]) => run("takeover_verdict", [me, A, String(offset), candidates.join("\n")]);
            it("alone, or ahead of every sibling: this one", () => {
                assert.strictEqual(v(100), "me");
                assert.strictEqual(v(100, `10.0.0.9:6379 ${A} 90 0 slave`), "me");
                assert.strictEqual(v(100, `10.0.0.9:6379 ${A} 100 0 slave`), "me", "a tie goes to the lowest address");
            });
            it("a sibling with a higher offset (or the same and a lower address) takes over instead", () => {
                assert.strictEqual(v(100, `10.0.0.9:6379 ${A} 90 0 slave`, `10.0.0.7:6379 ${A} 120 0 slave`), "defer 10.0.0.7:6379 120");
                assert.strictEqual(v(100, `10.0.0.3:6379 ${A} 100 0 slave`), "defer 10.0.0.3:6379 100");
            });
            it("a sibling that cannot be asked, is master already or holds another history leaves it to Redis", () => {
                assert.strictEqual(v(100, "10.0.0.9:6379 unreachable"), "leave sibling 10.0.0.9:6379 cannot be asked");
                assert.strictEqual(v(100, `10.0.0.9:6379 ${B} 0 0 master`), "leave sibling 10.0.0.9:6379 is already a master");
                assert.strictEqual(
                    v(100, `10.0.0.9:6379 ${B} 90 0 slave`),
                    "leave sibling 10.0.0.9:6379 holds another replication history",
                );
            });
            it("a sibling resynchronizing: ask again", () => {
                assert.strictEqual(v(100, `10.0.0.9:6379 ${A} 0 1 slave`), "retry");
            });
        });

        describe("replica_state: a replica's INFO replication in one line", () => {
            it("link, sync, history, offset, role and master", () => {
                assert.strictEqual(
                    run("replica_state", [replicaInfo({ link: "down", syncing: 0, replid: A, offset: 1234, host: "10.0.0.1" })]),
                    `down 0 ${A} 1234 slave 10.0.0.1:6379`,
                );
                assert.strictEqual(run("replica_state", ["Could not connect to Redis"]), "- - - - - -");
            });
        });

        describe("handover_candidates: a stopping master's replicas, best first", () => {
            it("online replicas only, the highest offset first, then the lowest address", () => {
                const info = masterInfo(A, 500, [
                    "ip=10.0.0.9,port=6379,state=online,offset=480,lag=0",
                    "ip=10.0.0.4,port=6379,state=wait_bgsave,offset=0,lag=0",
                    "ip=10.0.0.8,port=6379,state=online,offset=500,lag=0",
                    "ip=10.0.0.7,port=6379,state=online,offset=500,lag=1",
                ]);
                assert.strictEqual(run("handover_candidates", [], info), "10.0.0.7 6379 500\n10.0.0.8 6379 500\n10.0.0.9 6379 480");
                assert.strictEqual(run("handover_candidates", [], masterInfo(A, 500, [])), "");
            });
        });

        describe("siblings_of: the other replicas of this node's master", () => {
            it("from CLUSTER NODES, without nodes the cluster marked failed", () => {
                const nodes = [
                    `m1 10.0.0.1:6379@16379,redis-0 master - 0 0 1 connected 0-5460`,
                    `r1 10.0.0.5:6379@16379,redis-5 myself,slave m1 0 0 1 connected`,
                    `r2 10.0.0.6:6379@16379,redis-6 slave m1 0 0 1 connected`,
                    `r3 10.0.0.7:6379@16379,redis-7 slave,fail m1 0 0 1 connected`,
                    `r4 10.0.0.8:6379@16379,redis-8 slave,fail? m1 0 0 1 connected`,
                    `m2 10.0.0.2:6379@16379,redis-1 master - 0 0 2 connected 5461-10922`,
                    `r5 10.0.0.9:6379@16379,redis-9 slave m2 0 0 2 connected`,
                ].join("\n");
                assert.strictEqual(run("siblings_of", [], nodes), "10.0.0.6:6379\n10.0.0.8:6379");
            });
        });

        describe("surge_recruit_step: recruiting the surge node for a master, step by step", () => {
            const m1 = `m1 10.0.0.1:6379@16379,redis-0 master - 0 0 1 connected 0-5460`;
            const m2 = `m2 10.0.0.2:6379@16379,redis-1 master - 0 0 2 connected 5461-10922`;
            const step = (lines: readonly string[], state = "- - - - master -") =>
                run("surge_recruit_step", ["m1", state], lines.join("\n"));
            it("a lone node, or one that met the master only in handshake, must be met first", () => {
                assert.strictEqual(step([`s 10.0.0.9:6379@16379,redis-6 myself,master - 0 0 0 connected`]), "meet");
                assert.strictEqual(
                    step([
                        `s 10.0.0.9:6379@16379,redis-6 myself,master - 0 0 0 connected`,
                        `m1 10.0.0.1:6379@16379 handshake - 0 0 0 connected`,
                    ]),
                    "meet",
                );
            });
            it("a node that knows the master and replicates nobody is told to replicate it", () => {
                assert.strictEqual(step([`s 10.0.0.9:6379@16379,redis-6 myself,master - 0 0 0 connected`, m1, m2]), "replicate");
            });
            it("a node standing in for another master is moved only after asking (move ID)", () => {
                assert.strictEqual(
                    step([`s 10.0.0.9:6379@16379,redis-6 myself,slave m2 0 0 2 connected`, m1, m2], "up 0 x 10 slave 10.0.0.2:6379"),
                    "move m2",
                );
            });
            it("a replica of the master is ready only with its link up and its sync done", () => {
                const lines = [`s 10.0.0.9:6379@16379,redis-6 myself,slave m1 0 0 1 connected`, m1, m2];
                assert.strictEqual(step(lines, "up 0 x 10 slave 10.0.0.1:6379"), "ready");
                assert.strictEqual(step(lines, "down 0 x 0 slave 10.0.0.1:6379"), "syncing");
                assert.strictEqual(step(lines, "up 1 x 0 slave 10.0.0.1:6379"), "syncing");
            });
            it("a node that owns slots (it took a shard over) is never recruited", () => {
                assert.strictEqual(step([`s 10.0.0.9:6379@16379,redis-6 myself,master - 0 0 3 connected 0-5460`, m2]), "serving");
            });
        });

        describe("surge_duty: what the surge node does with itself", () => {
            const m1 = `m1 10.0.0.1:6379@16379,redis-0 master - 0 0 1 connected 0-5460`;
            const duty = (self: string, others: string, peers: readonly string[] = [m1]) =>
                run("surge_duty", [others], [self, ...peers].join("\n"));
            const replica = `s 10.0.0.9:6379@16379,redis-6 myself,slave m1 0 0 1 connected`;
            it("a replica stays while its master has no other online replica, and is spare once it has", () => {
                assert.strictEqual(duty(replica, "0"), "needed");
                assert.strictEqual(duty(replica, "1"), "spare");
                assert.strictEqual(duty(replica, "2"), "spare");
            });
            it("a replica whose master could not be asked stays", () => {
                assert.strictEqual(duty(replica, ""), "needed");
                assert.strictEqual(duty(replica, "-"), "needed");
            });
            it("a master that owns slots hands them back; one without slots in a cluster is a stray; alone it is idle", () => {
                assert.strictEqual(duty(`s 10.0.0.9:6379@16379,redis-6 myself,master - 0 0 3 connected 0-5460`, "-"), "serving");
                assert.strictEqual(duty(`s 10.0.0.9:6379@16379,redis-6 myself,master - 0 0 0 connected`, "-"), "stray");
                assert.strictEqual(duty(`s 10.0.0.9:6379@16379,redis-6 myself,master - 0 0 0 connected`, "-", []), "idle");
            });
        });

        describe("election_digest: this node's view of its master, one line a stamped CLUSTER NODES", () => {
            const now = 1796130958444;
            const master = (flags: string, pingSent: number) =>
                `m1 10.0.0.1:6379@16379,redis-0 ${flags} - ${pingSent} ${now - 900} 1 connected 0-5460`;
            const other = `m2 10.0.0.2:6379@16379,redis-1 master - 0 ${now - 300} 2 connected 5461-10922`;
            const me = `r1 10.0.0.4:6379@16379,redis-3 myself,slave m1 0 0 1 connected`;
            const reply = (...lines: string[]) => [`now ${now}`, ...lines, "end"].join("\r\n");
            it("a replica whose master answered: ok, nothing pending (the master's line may come before or after its own)", () => {
                assert.strictEqual(run("election_digest", [], reply(master("master", 0), other, me)), `${now} replica 10.0.0.1:6379 ok 0`);
                assert.strictEqual(run("election_digest", [], reply(me, other, master("master", 0))), `${now} replica 10.0.0.1:6379 ok 0`);
            });
            it("how long the ping to the master has gone unanswered, and what the node flagged", () => {
                assert.strictEqual(
                    run("election_digest", [], reply(master("master", now - 620), me)),
                    `${now} replica 10.0.0.1:6379 ok 620`,
                );
                assert.strictEqual(
                    run("election_digest", [], reply(master("master,fail?", now - 3100), me)),
                    `${now} replica 10.0.0.1:6379 pfail 3100`,
                );
                assert.strictEqual(
                    run("election_digest", [], reply(master("master,fail", now - 4200), me)),
                    `${now} replica 10.0.0.1:6379 fail 4200`,
                );
            });
            it("a master, and a node in no cluster, have no master to watch", () => {
                assert.strictEqual(
                    run("election_digest", [], reply(`m1 10.0.0.1:6379@16379 myself,master - 0 0 1 connected 0-5460`)),
                    `${now} master - unknown 0`,
                );
                assert.strictEqual(
                    run("election_digest", [], reply("ERR This instance has cluster support disabled")),
                    `${now} none - unknown 0`,
                );
            });
            it("answers each reply as it comes, while the stream goes on (mawk would read the pipe in blocks, half a second late)", async () => {
                const child = spawn(shell[0], [...shell.slice(1), "-c", '. "$0"; election_digest', DECISIONS]);
                const killer = setTimeout(() => child.kill(), 5000);
                try {
                    const first = new Promise<string>((resolve, reject) => {
                        let out = "";
                        child.stdout.on("data", (d: Buffer) => {
                            out += d.toString();
                            if (out.includes("\n")) resolve(out.trim());
                        });
                        child.on("exit", () => reject(new Error(`no view before the stream ended: '${out}'`)));
                    });
                    child.stdin.write(reply(master("master", 0), me) + "\r\n");
                    assert.strictEqual(await first, `${now} replica 10.0.0.1:6379 ok 0`);
                } finally {
                    clearTimeout(killer);
                    child.stdin.end();
                }
            });
            it("one line a reply of the stream; a reply cut short (no end) gives none", () => {
                const stream = [reply(master("master", 0), me), reply(master("master,fail?", now - 3000), me), `now ${now}`, me].join(
                    "\r\n",
                );
                assert.deepStrictEqual(run("election_digest", [], stream).split("\n"), [
                    `${now} replica 10.0.0.1:6379 ok 0`,
                    `${now} replica 10.0.0.1:6379 pfail 3000`,
                ]);
            });
        });

        describe("election_step: hold, run or release the node's own election", () => {
            const step = (held: string, spent: number, role: string, state: string, pending: number, timeout = 3000) =>
                run("election_step", [held, String(spent), role, state, String(pending), String(timeout)]);
            it("holds once the master's ping has gone unanswered for min(0.5 s, node timeout / 4), not before", () => {
                assert.strictEqual(step("-", 0, "replica", "ok", 499), "idle");
                assert.strictEqual(step("-", 0, "replica", "ok", 500), "hold");
                assert.strictEqual(step("-", 0, "replica", "pfail", 3200), "hold");
                assert.strictEqual(step("-", 0, "replica", "ok", 249, 1000), "idle");
                assert.strictEqual(step("-", 0, "replica", "ok", 250, 1000), "hold");
            });
            it("never holds a second time in one silence, nor on a master or a node in no cluster", () => {
                assert.strictEqual(step("-", 1, "replica", "pfail", 5000), "idle");
                assert.strictEqual(step("-", 0, "master", "unknown", 0), "idle");
                assert.strictEqual(step("-", 0, "none", "unknown", 0), "idle");
            });
            it("runs the election when the cluster flags the master FAIL while held; a FAIL without a hold is Redis's", () => {
                assert.strictEqual(step("2600", 0, "replica", "fail", 4100), "elect");
                assert.strictEqual(step("-", 0, "replica", "fail", 4100), "idle");
            });
            it("waits while the master is only suspected", () => {
                assert.strictEqual(step("900", 0, "replica", "ok", 1400), "wait");
                assert.strictEqual(step("2600", 0, "replica", "pfail", 3100), "wait");
            });
            it("releases when the master answers, when the node is no longer a replica, and after 2 x node timeout + 2 s", () => {
                assert.strictEqual(step("1200", 0, "replica", "ok", 0), "release its master answers again");
                assert.strictEqual(step("1200", 0, "master", "unknown", 0), "release this node is no longer a replica");
                assert.strictEqual(step("8000", 0, "replica", "pfail", 9000), "wait");
                assert.strictEqual(
                    step("8001", 0, "replica", "pfail", 9000),
                    "release the hold outlived 2 x node timeout + 2 s without a FAIL",
                );
            });
        });

        describe("freeze_eligibility: may this replica stand for the election at FAIL?", () => {
            const info = (link: string, syncing: number, lastIo: number) =>
                replicaInfo({ link, syncing, replid: A, offset: 100 }).replace(
                    "master_last_io_seconds_ago:0",
                    `master_last_io_seconds_ago:${lastIo}`,
                );
            const eligible = (text: string, factor = 10) => run("freeze_eligibility", ["3000", "10", String(factor)], text);
            it("a replica whose link is up, not syncing, its data within Redis's own age limit", () => {
                assert.strictEqual(eligible(info("up", 0, 4)), "eligible");
                assert.strictEqual(eligible(info("up", 0, 43)), "eligible");
            });
            it("not with its link down, a sync under way, data older than Redis allows, or as a master", () => {
                assert.strictEqual(eligible(info("down", 0, 4)), "not-eligible its link to the master is down");
                assert.strictEqual(eligible(info("up", 1, 4)), "not-eligible its initial sync is under way");
                assert.strictEqual(eligible(info("up", 0, 44)), "not-eligible its data is 41000 ms old (Redis allows 40000)");
                assert.strictEqual(eligible(info("up", 0, 400), 0), "eligible");
                assert.strictEqual(eligible(masterInfo(A, 100, [])), "not-eligible it is not a replica (master)");
            });
        });

        describe("hold_is_stale: was a held election left by an agent that is gone?", () => {
            const stale = (now: number, since: string) =>
                run('says() { if hold_is_stale "$@"; then echo stale; else echo fresh; fi; }; says', [String(now), since, "3000"]);
            it("a hold without a recorded start, or older than an agent ever holds it plus 5 s", () => {
                assert.strictEqual(stale(100000, ""), "stale");
                assert.strictEqual(stale(100000, "garbage"), "stale");
                assert.strictEqual(stale(100000, "87000"), "fresh");
                assert.strictEqual(stale(100000, "86999"), "stale");
            });
        });
    });
}

describe("rediscli.sh: the one helper the hook, the agent and the probes reach Redis with", () => {
    const HELPER = path.resolve(__dirname, "../../components/redis/rediscli.sh");
    let dir: string;
    before(() => {
        // A stand-in redis-cli that prints REDISCLI_AUTH and each argument in brackets.
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-rediscli-"));
        fs.writeFileSync(
            path.join(dir, "redis-cli"),
            '#!/bin/sh\nprintf "[%s]" "$REDISCLI_AUTH" "$@"\nif [ "$1" = --no-auth-warning ] && [ "$3" = 10.9.9.9 ]; then echo; echo oops >&2; fi\n',
            { mode: 0o755 },
        );
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const run = (shell: readonly string[], script: string, env: Record<string, string> = {}) =>
        spawnSync(shell[0], [...shell.slice(1), "-c", `. "${HELPER}"; ${script}`], {
            encoding: "utf8",
            // HOME: bash started with a socket on stdin reads ~/.bashrc, which is not the pod's.
            env: { PATH: `${dir}:${process.env.PATH ?? "/usr/bin:/bin"}`, HOME: dir, REDIS_PASSWORD: "pw", ...env },
        }).stdout;

    for (const shell of POSIX_SHELLS) {
        describe(shell.join(" "), () => {
            it("redis_cli dials HOST:PORT (bounded by timeout), stderr on stdout; plain without REDIS_TLS_DIR", () => {
                assert.strictEqual(run(shell, "redis_cli 2 10.0.0.5 6379 ROLE"), "[pw][--no-auth-warning][-h][10.0.0.5][-p][6379][ROLE]");
                assert.strictEqual(
                    run(shell, "redis_cli 2 10.9.9.9 6379 PING"),
                    "[pw][--no-auth-warning][-h][10.9.9.9][-p][6379][PING]\noops\n",
                );
            });

            it("with REDIS_TLS_DIR every form speaks TLS with that directory's ca.crt", () => {
                const tls = "[--tls][--cacert][/tls-ca/ca.crt]";
                const env = { REDIS_TLS_DIR: "/tls-ca" };
                assert.strictEqual(
                    run(shell, "redis_cli 2 10.0.0.5 6379 ROLE", env),
                    `[pw][--no-auth-warning][-h][10.0.0.5][-p][6379]${tls}[ROLE]`,
                );
                assert.strictEqual(run(shell, "self_cli 2 ROLE", env), `[pw][--no-auth-warning][-h][127.0.0.1][-p][6379]${tls}[ROLE]`);
                assert.strictEqual(run(shell, "rcli -e PING", env), `[pw][--no-auth-warning][-h][127.0.0.1][-p][6379]${tls}[-e][PING]`);
            });

            it("with REDIS_USERS_DIR every form logs in as admin with the mounted password (the kubelet's current file)", () => {
                fs.mkdirSync(path.join(dir, "users"), { recursive: true });
                fs.writeFileSync(path.join(dir, "users", "admin"), "adminpw");
                const env = { REDIS_USERS_DIR: path.join(dir, "users"), REDIS_TLS_DIR: "/tls" };
                const tls = "[--tls][--cacert][/tls/ca.crt]";
                assert.strictEqual(
                    run(shell, "redis_cli 2 10.0.0.5 6379 ROLE", env),
                    `[adminpw][--no-auth-warning][-h][10.0.0.5][-p][6379][--user][admin]${tls}[ROLE]`,
                );
                assert.strictEqual(
                    run(shell, "rcli PING", env),
                    `[adminpw][--no-auth-warning][-h][127.0.0.1][-p][6379][--user][admin]${tls}[PING]`,
                );
                // Sourced again (the agent does before each round): a rotated password is picked up.
                assert.strictEqual(
                    run(shell, `self_cli 1 ROLE; echo; printf new > "${dir}/users/admin"; . "${HELPER}"; self_cli 1 ROLE`, env),
                    `[adminpw][--no-auth-warning][-h][127.0.0.1][-p][6379][--user][admin]${tls}[ROLE]\n[new][--no-auth-warning][-h][127.0.0.1][-p][6379][--user][admin]${tls}[ROLE]`,
                );
                fs.writeFileSync(path.join(dir, "users", "admin"), "adminpw");
            });

            it("self_cli and rcli read PROBE_HOST and PROBE_CLIENT_PORT when called, not when sourced", () => {
                const out = run(shell, "PROBE_HOST=127.0.5.11; PROBE_CLIENT_PORT=7000; self_cli 2 ROLE; rcli PING", {
                    REDISCLI_AUTH: "given",
                });
                assert.strictEqual(
                    out,
                    "[given][--no-auth-warning][-h][127.0.5.11][-p][7000][ROLE][given][--no-auth-warning][-h][127.0.5.11][-p][7000][PING]",
                );
            });
        });
    }
});
