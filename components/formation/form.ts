/**
 * The formation engine: applies a plan to real nodes through a Transport, idempotently.
 *
 *  - empty nodes       -> config epochs, slots, MEET, REPLICATE, wait until formed;
 *  - same shape formed -> nothing changes (only the "formed" check runs);
 *  - more masters      -> new nodes join, slots move to them with their keys (MIGRATE);
 *  - fewer masters     -> refused (scale-in is not supported);
 *  - nodes with data or from another cluster -> refused, nothing touched.
 *
 * "Formed" = all 16384 slots covered, every node has the same view (nodes, roles,
 * slots), and every replica reports master_link_status:up (a master lost before its
 * replica ever synced is never failed over). Then, by default, the engine also waits
 * for cluster_state:ok on every node: Redis holds a master that just joined the
 * majority in "fail" for up to cluster-node-timeout (its rejoin delay), and clients
 * get CLUSTERDOWN until then.
 */
import {
    FormationPlan,
    PlanNode,
    SlotMove,
    SlotRange,
    pairReplicas,
    planFormation,
    planRebalance,
    spreadOrder,
    toRanges,
    validateShape,
} from "./plan";
import { SLOT_COUNT } from "../shape";
import { NodeTarget, PASSWORD_ARG, Transport, splitAddress } from "./transport";
import { setTimeout as sleep } from "timers/promises";

/** A node to form: where Redis announces it, how the transport reaches it, where it runs. */
export interface FormNode extends PlanNode, NodeTarget {}

export interface FormOptions {
    readonly nodes: readonly FormNode[];
    readonly masters: number;
    readonly replicasPerMaster: number;
    readonly transport: Transport;
    /** Progress lines. */
    readonly log?: (line: string) => void;
    /** Upper bound of every single wait (default 60 s). */
    readonly timeoutMs?: number;
    /** Polling interval of waits (default 20 ms; use ~500 ms over Kubernetes exec). */
    readonly pollMs?: number;
    /** Slot batches moved in parallel while rebalancing (default 32; each batch moves its slots one after another). */
    readonly migrationConcurrency?: number;
    /** After "formed", also wait for cluster_state:ok on every node (default true). */
    readonly waitForClusterOk?: boolean;
    /** Above this many nodes a fresh formation takes its large-cluster steps (default LARGE_CLUSTER_NODES). */
    readonly largeClusterNodes?: number;
}

export interface ShardMember {
    readonly address: string;
    readonly id: string;
    readonly k8sNode?: string;
    readonly zone?: string;
}

export interface ShardInfo {
    readonly master: ShardMember;
    readonly slots: readonly SlotRange[];
    readonly replicas: readonly ShardMember[];
}

export interface FormResult {
    /** What this run did. */
    readonly action: "created" | "unchanged" | "completed" | "scaled-out";
    readonly shards: readonly ShardInfo[];
    readonly placementOk: boolean;
    readonly placementWarnings: readonly string[];
    /** "ok" when every node reported cluster_state:ok, else the first other state seen. */
    readonly clusterState: string;
    /** host:port of every node in the cluster, masters first. */
    readonly seeds: readonly string[];
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeEntry {
    readonly id: string;
    /** ip:port (cluster bus port and hostname stripped). */
    readonly address: string;
    readonly hostname?: string;
    readonly flags: readonly string[];
    /** Master's id for replicas, undefined for masters. */
    readonly masterId?: string;
    readonly configEpoch: number;
    readonly linkState: string;
    /** Owned slots as ranges (kept compact: views are parsed on every poll). */
    readonly slotRanges: readonly SlotRange[];
    readonly slotCount: number;
    /** Open slots: slot -> node id, as `[slot->-id]` (migrating) or `[slot-<-id]` (importing). */
    readonly migrating: ReadonlyMap<number, string>;
    readonly importing: ReadonlyMap<number, string>;
}

/** Parses CLUSTER NODES output. */
export function parseClusterNodes(text: string): ClusterNodeEntry[] {
    return text
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean)
        .map((line) => {
            const [id, addr, flagText, master, , , epoch, linkState, ...slotFields] = line.split(" ");
            const [ipPort, hostname] = addr.split(",");
            const address = ipPort.split("@")[0];
            const slotRanges: SlotRange[] = [];
            let slotCount = 0;
            const migrating = new Map<number, string>();
            const importing = new Map<number, string>();
            for (const f of slotFields) {
                const open = /^\[(\d+)-([<>])-([0-9a-f]+)\]$/.exec(f);
                if (open) {
                    (open[2] === ">" ? migrating : importing).set(Number(open[1]), open[3]);
                    continue;
                }
                const [a, b] = f.split("-").map(Number);
                slotRanges.push([a, b ?? a]);
                slotCount += (b ?? a) - a + 1;
            }
            return {
                id,
                address,
                hostname: hostname || undefined,
                flags: flagText.split(","),
                masterId: master === "-" ? undefined : master,
                configEpoch: Number(epoch),
                linkState,
                slotRanges,
                slotCount,
                migrating,
                importing,
            };
        });
}

/** Whether `entry` owns `slot`, read off its ranges (no expansion to slot numbers). */
export function ownsSlot(entry: ClusterNodeEntry, slot: number): boolean {
    return entry.slotRanges.some(([a, b]) => slot >= a && slot <= b);
}

/** Slot numbers of inclusive ranges. */
export function expandSlots(ranges: readonly SlotRange[]): number[] {
    const out: number[] = [];
    for (const [a, b] of ranges) for (let s = a; s <= b; s++) out.push(s);
    return out;
}

/** What one node reports about itself and its peers. */
interface NodeView {
    readonly node: FormNode;
    readonly self: ClusterNodeEntry;
    readonly peers: readonly ClusterNodeEntry[];
    readonly keys: number;
}

/**
 * Above this many nodes the full mesh saturates the CPU for a second or more, so a fresh
 * formation changes two steps:
 *  - no announce round: its N·(N-1) extra handshakes cost more than they save, since Redis
 *    itself pings every peer within cluster-node-timeout/2;
 *  - replicas meet only their masters first and start their initial syncs (a fork on
 *    each side) while the nodes are idle; the mesh follows. Mixed into the mesh, the
 *    replicas learned their masters only once it was done, and the syncs came last.
 *    Below the threshold that extra round trip costs more than it saves.
 * The crossover lay between 40 and 60 nodes on this project's 2-core machine
 * (`npm run bench:formation -- --sizes 20,30 --verbose` shows the phases).
 */
export const LARGE_CLUSTER_NODES = 40;

/** Slots whose SETSLOTs go out together during a rebalance (see Engine.migrate). */
const SLOTS_PER_BATCH = 64;

/** Key-name characters per MIGRATE: over Kubernetes the names travel in the exec URL (see MAX_EXEC_URL_CHARS). */
const MIGRATE_KEY_CHARS = 2000;

/** Consecutive groups of keys whose names add up to at most `maxChars` (a longer key goes alone). Pure. */
export function keyGroups(keys: readonly string[], maxChars: number): string[][] {
    const groups: string[][] = [];
    let size = 0;
    for (const key of keys) {
        if (groups.length === 0 || size + key.length > maxChars) {
            groups.push([]);
            size = 0;
        }
        groups[groups.length - 1].push(key);
        size += key.length;
    }
    return groups;
}

/** Default polling interval while a replica waits to know its master (the caller's pollMs wins, e.g. over exec): its view is one node, so asking often is cheap. */
const PAIRING_POLL_MS = 10;

/**
 * Like Promise.all, but the first error surfaces only once every operation has ended: a run
 * that fails leaves nothing still sending commands behind the caller's back.
 */
async function settleAll<T>(operations: readonly (T | Promise<T>)[]): Promise<T[]> {
    const results = await Promise.allSettled(operations);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Refusals carry this type so callers (provider, CLI) can tell them from transient failures. */
export class FormationRefused extends Error {
    constructor(message: string) {
        super(message);
        this.name = "FormationRefused";
    }
}

/** Polls `probe` until it returns undefined (done) or the timeout passes; the probe returns what it still waits for. */
export async function waitFor(what: string, probe: () => Promise<string | undefined>, timeoutMs: number, pollMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let pending: string | undefined;
    for (;;) {
        try {
            pending = await probe();
        } catch (e) {
            pending = `error: ${(e as Error).message}`;
        }
        if (pending === undefined) return;
        if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; still waiting for: ${pending}`);
        await sleep(pollMs);
    }
}

class Engine {
    private readonly log: (line: string) => void;
    private readonly timeoutMs: number;
    private readonly pollMs: number;
    private readonly byAddress: Map<string, FormNode>;
    private readonly largeClusterNodes: number;

    constructor(private readonly o: FormOptions) {
        this.log = o.log ?? (() => undefined);
        this.timeoutMs = o.timeoutMs ?? 60_000;
        // Every poll asks every node for CLUSTER NODES; on big clusters that load slows the very
        // gossip being waited for, so the interval grows with the node count.
        this.pollMs = Math.max(o.pollMs ?? 20, 2 * o.nodes.length);
        this.byAddress = new Map(o.nodes.map((n) => [n.address, n]));
        this.largeClusterNodes = o.largeClusterNodes ?? LARGE_CLUSTER_NODES;
    }

    private call(node: FormNode, ...args: string[]): Promise<string> {
        return this.o.transport.call(node.target, args);
    }

    private async view(node: FormNode): Promise<NodeView> {
        const [nodesText, keys] = await Promise.all([this.call(node, "CLUSTER", "NODES"), this.call(node, "DBSIZE")]);
        const entries = parseClusterNodes(nodesText);
        const self = entries.find((e) => e.flags.includes("myself"));
        if (!self) throw new Error(`${node.address}: CLUSTER NODES has no "myself" line (is cluster-enabled on?)`);
        return { node, self, peers: entries.filter((e) => e !== self), keys: Number(keys) };
    }

    async run(): Promise<FormResult> {
        const { nodes, masters, replicasPerMaster } = this.o;
        validateShape(nodes.length, masters, replicasPerMaster);
        this.log(`inspecting ${nodes.length} nodes`);
        const views = await Promise.all(nodes.map((n) => this.view(n)));
        this.refuseForeign(views);
        const owners = views.filter((v) => v.self.slotCount > 0);
        if (owners.length === 0) return this.createFresh(views);
        return this.converge(views);
    }

    /** Nodes that know peers outside the given set belong to another cluster: refuse before touching anything. */
    private refuseForeign(views: readonly NodeView[]): void {
        for (const v of views) {
            const foreign = v.peers.filter((p) => !this.byAddress.has(p.address) && !p.flags.includes("handshake"));
            if (foreign.length > 0) {
                throw new FormationRefused(
                    `node ${v.node.address} belongs to another cluster: it knows ${foreign.map((p) => p.address).join(", ")}, which ` +
                        `${foreign.length === 1 ? "is" : "are"} not among the nodes given. Nothing was changed; ` +
                        `remove it from that cluster (CLUSTER FORGET / CLUSTER RESET on an empty node) or use a fresh node.`,
                );
            }
        }
    }

    private refuseData(views: readonly NodeView[]): void {
        for (const v of views) {
            if (v.keys > 0) {
                throw new FormationRefused(
                    `node ${v.node.address} holds ${v.keys} keys but is not part of this cluster; refusing to add it (its data would be lost or shadowed). Nothing was changed.`,
                );
            }
        }
    }

    private async createFresh(views: readonly NodeView[]): Promise<FormResult> {
        this.refuseData(views);
        const plan = planFormation(this.o.nodes, this.o.masters, this.o.replicasPerMaster);
        for (const w of plan.warnings) this.log(`placement warning: ${w}`);
        const idOf = new Map(views.map((v) => [v.node.address, v.self.id]));
        const member = (a: string) => this.byAddress.get(a)!;
        const planned = plan.shards.flatMap((s) => [s.master, ...s.replicas]).map(member);

        // Distinct epochs up front: no epoch-collision round after MEET. Only possible while a node knows nobody.
        this.log(`setting config epochs on ${planned.length} nodes`);
        const viewOf = new Map(views.map((v) => [v.node.address, v]));
        await settleAll(
            planned.map((n, i) => {
                const v = viewOf.get(n.address)!;
                return v.peers.length === 0 && v.self.configEpoch === 0
                    ? this.call(n, "CLUSTER", "SET-CONFIG-EPOCH", String(i + 1))
                    : undefined;
            }),
        );

        this.log(`assigning slots to ${plan.shards.length} masters`);
        await settleAll(
            plan.shards.map((s) =>
                this.call(member(s.master), "CLUSTER", "ADDSLOTSRANGE", ...s.slots.flatMap(([a, b]) => [String(a), String(b)])),
            ),
        );

        const replicas = plan.shards.flatMap((s) =>
            s.replicas.map((r) => ({ replica: member(r), master: member(s.master), masterId: idOf.get(s.master)! })),
        );
        const large = planned.length > this.largeClusterNodes;
        if (large && replicas.length > 0) {
            this.log(`pairing: ${replicas.length} replicas meet their masters and start syncing`);
            await settleAll(
                replicas.map(async (p) => {
                    await this.meet(p.replica, [p.master]);
                    await this.replicate(p.replica, p.master, p.masterId, this.o.pollMs ?? PAIRING_POLL_MS);
                }),
            );
        }
        // Every pair meets directly (node i meets every node after it) instead of relying on
        // gossip, which needs several 100 ms cron rounds per hop: the mesh completes in about
        // one handshake round trip, and replicas learn their master's id at once.
        const alreadyMet = (a: FormNode, b: FormNode) =>
            large && replicas.some((p) => (p.replica === a && p.master === b) || (p.replica === b && p.master === a));
        const meetings = planned.map((from, i) => ({ from, to: planned.slice(i + 1).filter((to) => !alreadyMet(from, to)) }));
        this.log(`meeting: ${meetings.reduce((k, m) => k + m.to.length, 0)} direct handshakes between ${planned.length} nodes`);
        await settleAll(meetings.map((m) => this.meet(m.from, m.to)));
        if (!large) {
            this.log(`replicating: ${replicas.length} replicas`);
            await settleAll(replicas.map((p) => this.replicate(p.replica, p.master, p.masterId)));
        }
        await this.waitAllKnown(planned, idOf);
        this.log(`all ${planned.length} nodes know each other`);
        if (!large) await this.announce(planned);
        return this.finish("created", planned, plan);
    }

    /**
     * Makes every node tell every other its slots and role now, instead of at its next
     * random ping (up to a second away, per peer): a MEET to an already known node is
     * processed by the receiver as a regular message from a known sender, so it takes
     * the sender's slots and role from the header; the extra handshake is dropped at once.
     */
    private async announce(nodes: readonly FormNode[]): Promise<void> {
        if (nodes.length > this.largeClusterNodes) return;
        this.log(`announcing slots and roles: ${nodes.length * (nodes.length - 1)} handshakes`);
        await settleAll(
            nodes.map((from) =>
                this.meet(
                    from,
                    nodes.filter((to) => to !== from),
                ),
            ),
        );
    }

    /** `from` meets every node of `to` (one batch: one exec over Kubernetes). */
    private meet(from: FormNode, to: readonly FormNode[]): Promise<void> {
        return this.o.transport.callEach(
            from.target,
            to.map((n) => ["CLUSTER", "MEET", ...splitAddressArgs(n.address)]),
        );
    }

    /** REPLICATE as soon as the replica knows its master (and knows it as a master). */
    private async replicate(replica: FormNode, master: FormNode, masterId: string, pollMs = this.pollMs): Promise<void> {
        await waitFor(
            `${replica.address} to learn its master ${master.address}`,
            async () => {
                const known = parseClusterNodes(await this.call(replica, "CLUSTER", "NODES")).find((e) => e.id === masterId);
                if (!known) return `${replica.address} does not know ${masterId} yet`;
                if (known.flags.includes("handshake") || !known.flags.includes("master"))
                    return `${replica.address} sees ${masterId} as ${known.flags.join(",")}`;
                return undefined;
            },
            this.timeoutMs,
            pollMs,
        );
        await this.call(replica, "CLUSTER", "REPLICATE", masterId);
    }

    /** The cluster already holds slots: keep it, add what is missing, or refuse. */
    private async converge(views: readonly NodeView[]): Promise<FormResult> {
        const { masters, replicasPerMaster } = this.o;
        const idToView = new Map(views.map((v) => [v.self.id, v]));
        const memberIds = new Set<string>();
        for (const v of views.filter((x) => x.self.slotCount > 0)) {
            memberIds.add(v.self.id);
            for (const p of v.peers) if (!p.flags.includes("handshake")) memberIds.add(p.id);
        }
        const members = views.filter((v) => memberIds.has(v.self.id));
        // Outsiders know no node beyond the given set (refuseForeign): those that know some are
        // joining this cluster, e.g. MEETs of an interrupted run still in handshake. They join again.
        const outsiders = views.filter((v) => !memberIds.has(v.self.id));
        this.refuseData(outsiders);

        // Moves left open by an interrupted scale-out are finished first, then everything is looked at afresh.
        if (await this.finishOpenSlots(members)) return this.run();
        const current = new Map<string, number[]>();
        for (const v of members) if (v.self.slotCount > 0) current.set(v.node.address, expandSlots(v.self.slotRanges));
        const covered = [...current.values()].reduce((k, s) => k + s.length, 0);
        if (covered < SLOT_COUNT) {
            return this.resumeFresh(views, covered);
        }
        if (current.size > masters) {
            throw new FormationRefused(
                `masters: the cluster has ${current.size} masters and ${masters} were requested; scaling in (removing masters) is not supported. ` +
                    `Set masters to ${current.size} or more. Nothing was changed.`,
            );
        }

        const replicaOf = new Map<string, string[]>(); // master address -> replica addresses
        for (const a of current.keys()) replicaOf.set(a, []);
        for (const v of members) {
            const m = v.self.masterId && idToView.get(v.self.masterId);
            if (m && replicaOf.has(m.node.address)) replicaOf.get(m.node.address)!.push(v.node.address);
        }
        const free = [...members.filter((v) => v.self.slotCount === 0 && !v.self.masterId), ...outsiders].map((v) => v.node);
        const newMasters = spreadOrder(free).slice(0, masters - current.size);
        const candidates = free.filter((n) => !newMasters.includes(n));

        // Seats for missing replicas, paired away from their masters where possible.
        const allMasters = [...current.keys(), ...newMasters.map((n) => n.address)];
        const seatMasters: FormNode[] = [];
        for (const m of allMasters) {
            const missing = replicasPerMaster - (replicaOf.get(m)?.length ?? 0);
            for (let i = 0; i < missing; i++) seatMasters.push(this.byAddress.get(m)!);
        }
        if (candidates.length < seatMasters.length) {
            throw new FormationRefused(
                `nodes: ${newMasters.length} new masters and ${seatMasters.length} new replicas are needed but only ${free.length} free nodes are available. Nothing was changed.`,
            );
        }
        // Even shares for all masters: the new ones, and any left short by an interrupted scale-out.
        const moves = planRebalance(
            current,
            newMasters.map((n) => n.address),
        );
        if (newMasters.length === 0 && seatMasters.length === 0 && moves.length === 0) {
            this.log("cluster already has the requested shape; checking that it is formed");
            return this.finish(
                "unchanged",
                members.map((v) => v.node),
            );
        }
        const pairing = pairReplicas(seatMasters, candidates, 1, new Set(this.o.nodes.map((n) => n.zone).filter(Boolean)).size > 1);
        const joining = [...newMasters, ...pairing.byMaster.flat().map((a) => this.byAddress.get(a)!)];
        const anchor = members.find((v) => v.self.slotCount > 0)!.node;
        const all = [...members.map((v) => v.node), ...joining.filter((n) => !members.some((v) => v.node === n))];
        const idOf = new Map(views.map((v) => [v.node.address, v.self.id]));
        if (joining.length > 0) {
            this.log(`joining ${joining.length} nodes (${newMasters.length} new masters) through ${anchor.address}`);
            await this.meet(anchor, joining);
            await this.waitAllKnown(all, idOf);
            await this.announce(all);
        }

        if (moves.length > 0) {
            // A node answers CLUSTERDOWN (also to MIGRATE's RESTORE) until it sees every slot covered.
            await this.waitClusterOk(all);
            const total = moves.reduce((k, m) => k + m.slots.length, 0);
            const receivers = new Set(moves.map((m) => m.to)).size;
            this.log(`rebalancing: moving ${total} slots to ${receivers} ${newMasters.length > 0 ? "new " : ""}masters with their keys`);
            if (this.o.transport.reshard) await this.reshard(moves, idOf, all);
            else await this.migrate(moves, idOf);
            await this.announce(all);
        }
        await settleAll(
            pairing.byMaster.flatMap((replicas, seat) =>
                replicas.map((r) => this.replicate(this.byAddress.get(r)!, seatMasters[seat], idOf.get(seatMasters[seat].address)!)),
            ),
        );
        return this.finish(newMasters.length > 0 ? "scaled-out" : "completed", all);
    }

    /** A fresh formation stopped half-way (some slots assigned): continue it if it matches the plan, else refuse. */
    private async resumeFresh(views: readonly NodeView[], covered: number): Promise<FormResult> {
        const plan = planFormation(this.o.nodes, this.o.masters, this.o.replicasPerMaster);
        const plannedOwner = new Map<number, string>();
        for (const s of plan.shards) for (const [a, b] of s.slots) for (let slot = a; slot <= b; slot++) plannedOwner.set(slot, s.master);
        const consistent = views.every(
            (v) => v.keys === 0 && expandSlots(v.self.slotRanges).every((slot) => plannedOwner.get(slot) === v.node.address),
        );
        if (!consistent) {
            throw new FormationRefused(
                `cluster: only ${covered} of ${SLOT_COUNT} slots are covered and the assignment is not one this engine started; ` +
                    `repair it with \`redis-cli --cluster fix\` first. Nothing was changed.`,
            );
        }
        this.log(`resuming an interrupted formation (${covered} slots were assigned)`);
        const idOf = new Map(views.map((v) => [v.node.address, v.self.id]));
        const viewOf = new Map(views.map((v) => [v.node.address, v]));
        const member = (a: string) => this.byAddress.get(a)!;
        await settleAll(
            plan.shards.map((s) => {
                const owned = new Set(expandSlots(viewOf.get(s.master)!.self.slotRanges));
                const missing = expandSlots(s.slots).filter((x) => !owned.has(x));
                return missing.length === 0
                    ? ""
                    : this.call(
                          member(s.master),
                          "CLUSTER",
                          "ADDSLOTSRANGE",
                          ...toRanges(missing).flatMap(([a, b]) => [String(a), String(b)]),
                      );
            }),
        );
        const planned = plan.shards.flatMap((s) => [s.master, ...s.replicas]).map(member);
        const first = member(plan.shards[0].master);
        await this.meet(
            first,
            planned.filter((n) => n !== first),
        );
        await settleAll(
            plan.shards.flatMap((s) =>
                s.replicas
                    .filter((r) => viewOf.get(r)!.self.masterId !== idOf.get(s.master))
                    .map((r) => this.replicate(member(r), member(s.master), idOf.get(s.master)!)),
            ),
        );
        return this.finish("completed", planned, plan);
    }

    private async waitAllKnown(all: readonly FormNode[], idOf: ReadonlyMap<string, string>): Promise<void> {
        const ids = all.map((n) => idOf.get(n.address)!);
        // A node that knows everyone stays so: only the others are asked again (less load on a busy mesh).
        const pending = new Set(all);
        await waitFor(
            `all ${all.length} nodes to know each other`,
            async () => {
                const missing: string[] = [];
                await Promise.all(
                    [...pending].map(async (n) => {
                        const known = new Set(
                            parseClusterNodes(await this.call(n, "CLUSTER", "NODES"))
                                .filter((e) => !e.flags.includes("handshake"))
                                .map((e) => e.id),
                        );
                        const unknown = ids.filter((id) => !known.has(id));
                        if (unknown.length) missing.push(`${n.address} does not know ${unknown.length} nodes`);
                        else pending.delete(n);
                    }),
                );
                return missing.length ? missing.join("; ") : undefined;
            },
            this.timeoutMs,
            this.pollMs,
        );
    }

    private waitClusterOk(nodes: readonly FormNode[]): Promise<void> {
        return waitUntilClusterOk({ nodes, transport: this.o.transport, timeoutMs: this.timeoutMs, pollMs: this.pollMs });
    }

    /**
     * Moves slots with their keys, in batches of one donor and one receiver: IMPORTING on the
     * receiver, then MIGRATING on the donor, the keys slot by slot (MIGRATE), then SETSLOT NODE
     * on the receiver and then on the donor. The SETSLOTs of a batch go out as one callEach per
     * side (one exec over Kubernetes, where a round trip costs far more than the command).
     */
    private async migrate(moves: readonly SlotMove[], idOf: ReadonlyMap<string, string>): Promise<void> {
        const batches = moves.flatMap((m) => {
            const out: { from: FormNode; to: FormNode; slots: readonly number[] }[] = [];
            for (let i = 0; i < m.slots.length; i += SLOTS_PER_BATCH) {
                out.push({
                    from: this.byAddress.get(m.from)!,
                    to: this.byAddress.get(m.to)!,
                    slots: m.slots.slice(i, i + SLOTS_PER_BATCH),
                });
            }
            return out;
        });
        const total = moves.reduce((k, m) => k + m.slots.length, 0);
        let next = 0;
        let moved = 0;
        // After a failure no new batch starts, and the error surfaces once the batches under way have
        // ended: nothing keeps moving slots behind the caller's back (the next run finishes what is open).
        let failure: { error: unknown } | undefined;
        const worker = async () => {
            while (!failure && next < batches.length) {
                const { from, to, slots } = batches[next++];
                const fromId = idOf.get(from.address)!;
                const toId = idOf.get(to.address)!;
                try {
                    await this.o.transport.callEach(
                        to.target,
                        slots.map((slot) => ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", fromId]),
                    );
                    await this.o.transport.callEach(
                        from.target,
                        slots.map((slot) => ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", toId]),
                    );
                    for (const slot of slots) await this.moveKeys(from, to, slot);
                    await this.assignSlots(to, from, slots, toId);
                } catch (error) {
                    failure ??= { error };
                    return;
                }
                const before = moved;
                moved += slots.length;
                if (Math.floor(moved / 1024) > Math.floor(before / 1024)) this.log(`rebalancing: ${moved}/${total} slots moved`);
            }
        };
        await Promise.all(Array.from({ length: Math.max(1, this.o.migrationConcurrency ?? 32) }, worker));
        if (failure) throw failure.error;
    }

    /**
     * Moves through the transport's own reshard (redis-cli next to the cluster), one move at a
     * time: redis-cli refuses to start while another move leaves slots open. It takes the donor's
     * lowest slots rather than the planned ones; the counts, and so the even shares, are the same.
     */
    private async reshard(moves: readonly SlotMove[], idOf: ReadonlyMap<string, string>, members: readonly FormNode[]): Promise<void> {
        for (const m of moves) {
            // redis-cli refuses to start unless every node agrees on the slots ("Nodes don't agree").
            await this.waitFormed(members);
            const from = this.byAddress.get(m.from)!;
            this.log(`rebalancing: redis-cli --cluster reshard in ${from.target}: ${m.slots.length} slots from ${m.from} to ${m.to}`);
            await this.o.transport.reshard!(from.target, {
                entry: from.address,
                fromId: idOf.get(m.from)!,
                toId: idOf.get(m.to)!,
                slots: m.slots.length,
            });
        }
    }

    /** Moves every key of an open slot from `from` to `to` (MIGRATE: 100 keys, at most MIGRATE_KEY_CHARS of names, at a time). */
    private async moveKeys(from: FormNode, to: FormNode, slot: number): Promise<void> {
        const s = String(slot);
        const [host, port] = splitAddressArgs(to.address);
        let previous = "";
        for (;;) {
            const reply = await this.call(from, "CLUSTER", "GETKEYSINSLOT", s, "100");
            const keys = reply.split("\n").filter((k) => k !== "");
            if (keys.length === 0) return;
            // The transports return replies as text, one array element a line: a key whose name holds a
            // newline comes back split, MIGRATE finds neither part, and the same reply would repeat forever.
            if (reply === previous) {
                throw new Error(
                    `slot ${slot}: MIGRATE from ${from.address} to ${to.address} moved none of ${JSON.stringify(keys.slice(0, 5))}; ` +
                        `key names with line breaks cannot be moved by this engine. The slot stays open (MIGRATING/IMPORTING) with its ` +
                        `keys on ${from.address}; move them with MIGRATE by hand, then run the formation again.`,
                );
            }
            previous = reply;
            for (const group of keyGroups(keys, MIGRATE_KEY_CHARS)) {
                // No REPLACE: a key already on the target means something is wrong; fail rather than overwrite.
                await this.o.transport
                    .call(from.target, ["MIGRATE", host, port, "", "0", "10000", "AUTH", PASSWORD_ARG, "KEYS", ...group])
                    .catch((e: Error) => {
                        throw new Error(
                            `slot ${slot}: MIGRATE of ${group.length} keys from ${from.address} to ${to.address} failed: ${e.message}. The slot stays open; the next run continues it.`,
                        );
                    });
            }
        }
    }

    /** Ends moves of `slots` to `to`: SETSLOT NODE on the receiver first, then on the donor (Redis's documented order). */
    private async assignSlots(to: FormNode, from: FormNode, slots: readonly number[], toId: string): Promise<void> {
        const commands = slots.map((slot) => ["CLUSTER", "SETSLOT", String(slot), "NODE", toId]);
        await this.o.transport.callEach(to.target, commands);
        await this.o.transport.callEach(from.target, commands);
    }

    /**
     * Closes slot moves left open by an interrupted run; true if there were any.
     *  - The donor is MIGRATING: keys may have moved already, so the move is finished (keys go
     *    where the move was heading), also when the receiver owns the slot already (the run
     *    stopped between the two SETSLOT NODE).
     *  - Only the receiver is IMPORTING (the run stopped before the donor's MIGRATING): no key
     *    can have moved, so the move is cancelled (SETSLOT STABLE) and the rebalance plans afresh.
     */
    private async finishOpenSlots(members: readonly NodeView[]): Promise<boolean> {
        const byId = new Map(members.map((v) => [v.self.id, v]));
        let any = false;
        for (const from of members) {
            for (const [slot, toId] of from.self.migrating) {
                const to = byId.get(toId);
                if (!to) {
                    throw new FormationRefused(
                        `slot ${slot} on ${from.node.address} is migrating to unknown node ${toId}; repair it with redis-cli --cluster fix. Nothing was changed.`,
                    );
                }
                this.log(`finishing interrupted move of slot ${slot} from ${from.node.address} to ${to.node.address}`);
                if (!to.self.importing.has(slot) && !ownsSlot(to.self, slot)) {
                    await this.call(to.node, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", from.self.id);
                }
                await this.moveKeys(from.node, to.node, slot);
                await this.assignSlots(to.node, from.node, [slot], to.self.id);
                any = true;
            }
        }
        for (const to of members) {
            for (const [slot, fromId] of to.self.importing) {
                if (byId.get(fromId)?.self.migrating.get(slot) === to.self.id) continue; // finished above
                const keys = Number(await this.call(to.node, "CLUSTER", "COUNTKEYSINSLOT", String(slot)));
                if (keys > 0) {
                    throw new FormationRefused(
                        `slot ${slot}: ${to.node.address} imports it from ${fromId}, which is not migrating it, and already holds ${keys} of its keys; ` +
                            `repair it with redis-cli --cluster fix. Nothing was changed.`,
                    );
                }
                this.log(`cancelling interrupted move of slot ${slot} to ${to.node.address}, which never started`);
                await this.call(to.node, "CLUSTER", "SETSLOT", String(slot), "STABLE");
                any = true;
            }
        }
        return any;
    }

    /** Waits until formed and reads the final shard map. */
    private async finish(action: FormResult["action"], members: readonly FormNode[], plan?: FormationPlan): Promise<FormResult> {
        const snapshot = await this.waitFormed(members);
        let clusterState = "ok";
        if (this.o.waitForClusterOk ?? true) {
            await this.waitClusterOk(members);
        } else {
            const states = await Promise.all(
                members.map(async (n) => /cluster_state:(\w+)/.exec(await this.call(n, "CLUSTER", "INFO"))?.[1] ?? "unknown"),
            );
            clusterState = states.find((st) => st !== "ok") ?? "ok";
        }
        const shards = this.shardMap(snapshot);
        const warnings = plan
            ? [...plan.warnings]
            : placementWarnings(shards, new Set(this.o.nodes.map((n) => n.zone).filter(Boolean)).size > 1);
        for (const w of plan ? [] : warnings) this.log(`placement warning: ${w}`);
        this.log(
            `formed: ${shards.length} masters, ${shards.reduce((k, s) => k + s.replicas.length, 0)} replicas, all ${SLOT_COUNT} slots covered, all replica links up`,
        );
        return {
            action,
            shards,
            placementOk: warnings.length === 0,
            placementWarnings: warnings,
            clusterState,
            seeds: shards.flatMap((s) => [s.master.address, ...s.replicas.map((r) => r.address)]),
        };
    }

    private waitFormed(members: readonly FormNode[]): Promise<ClusterNodeEntry[]> {
        return waitUntilFormed({ nodes: members, transport: this.o.transport, timeoutMs: this.timeoutMs, pollMs: this.pollMs });
    }

    private shardMap(entries: readonly ClusterNodeEntry[]): ShardInfo[] {
        const info = (e: ClusterNodeEntry): ShardMember => {
            const n = this.byAddress.get(e.address);
            return { address: e.address, id: e.id, ...(n?.k8sNode ? { k8sNode: n.k8sNode } : {}), ...(n?.zone ? { zone: n.zone } : {}) };
        };
        return entries
            .filter((e) => e.slotCount > 0)
            .sort((a, b) => a.slotRanges[0][0] - b.slotRanges[0][0])
            .map((m) => ({
                master: info(m),
                slots: toRanges(expandSlots(m.slotRanges)),
                replicas: entries
                    .filter((e) => e.masterId === m.id)
                    .sort((a, b) => a.address.localeCompare(b.address))
                    .map(info),
            }));
    }
}

function splitAddressArgs(address: string): [string, string] {
    const [host, port] = splitAddress(address);
    return [host, String(port)];
}

interface FormedReport {
    readonly n: FormNode;
    readonly entries: readonly ClusterNodeEntry[];
    readonly link: string | undefined;
}

/** The agreement check, pure: returns what is still pending, or undefined once formed (then passes the agreed view). */
export function formedPending(
    reports: readonly FormedReport[],
    expectedNodes: number,
    onAgreed: (view: ClusterNodeEntry[]) => void,
): string | undefined {
    const pending: string[] = [];
    const signature = (entries: readonly ClusterNodeEntry[]) =>
        entries
            .map(
                (e) =>
                    `${e.id} ${e.flags.includes("master") ? "master" : "replica"} ${e.masterId ?? "-"} ${e.slotRanges.map((r) => r.join("-")).join(",")}`,
            )
            .sort()
            .join("\n");
    let reference: string | undefined;
    for (const r of reports) {
        const bad = r.entries.filter((e) => e.flags.some((f) => ["handshake", "fail", "fail?", "noaddr"].includes(f)));
        if (r.entries.length !== expectedNodes) pending.push(`${r.n.address} knows ${r.entries.length}/${expectedNodes} nodes`);
        if (bad.length) pending.push(`${r.n.address} sees ${bad.map((e) => `${e.address}(${e.flags.join(",")})`).join(" ")}`);
        const covered = r.entries.reduce((k, e) => k + e.slotCount, 0);
        if (covered !== SLOT_COUNT) pending.push(`${r.n.address} sees ${covered}/${SLOT_COUNT} slots`);
        if (r.link !== "n/a" && r.link !== "up") pending.push(`${r.n.address} master_link_status:${r.link ?? "unknown"}`);
        const sig = signature(r.entries);
        if (reference === undefined) reference = sig;
        else if (sig !== reference) pending.push(`${r.n.address} disagrees with ${reports[0].n.address} on roles or slots`);
    }
    if (pending.length) return pending.slice(0, 8).join("; ") + (pending.length > 8 ? ` (+${pending.length - 8} more)` : "");
    onAgreed([...reports[0].entries]);
    return undefined;
}

/**
 * Polls until the cluster over `nodes` is formed (all slots covered, same view of nodes,
 * roles and slots everywhere, every replica link up); returns the agreed view.
 * Exported so the benchmark holds redis-cli to exactly the same condition.
 */
export async function waitUntilFormed(o: {
    nodes: readonly FormNode[];
    transport: Transport;
    timeoutMs: number;
    pollMs: number;
}): Promise<ClusterNodeEntry[]> {
    let agreed: ClusterNodeEntry[] = [];
    const call = (n: FormNode, ...args: string[]) => o.transport.call(n.target, args);
    await waitFor(
        "the cluster to be formed (all slots covered, same view on every node, every replica link up)",
        async () => {
            const reports = await Promise.all(
                o.nodes.map(async (n) => {
                    const entries = parseClusterNodes(await call(n, "CLUSTER", "NODES"));
                    const self = entries.find((e) => e.flags.includes("myself"));
                    const link = self?.masterId ? /master_link_status:(\w+)/.exec(await call(n, "INFO", "replication"))?.[1] : "n/a";
                    return { n, entries, link };
                }),
            );
            return formedPending(reports, o.nodes.length, (r) => (agreed = r));
        },
        o.timeoutMs,
        o.pollMs,
    );
    return agreed;
}

/** Polls until every node reports cluster_state:ok (clients get CLUSTERDOWN before). */
export async function waitUntilClusterOk(o: {
    nodes: readonly FormNode[];
    transport: Transport;
    timeoutMs: number;
    pollMs: number;
}): Promise<void> {
    await waitFor(
        "cluster_state:ok on every node",
        async () => {
            const states = await Promise.all(
                o.nodes.map(
                    async (n) =>
                        [n.address, /cluster_state:(\w+)/.exec(await o.transport.call(n.target, ["CLUSTER", "INFO"]))?.[1]] as const,
                ),
            );
            const notOk = states.filter(([, st]) => st !== "ok");
            return notOk.length ? notOk.map(([a, st]) => `${a} cluster_state:${st}`).join("; ") : undefined;
        },
        o.timeoutMs,
        o.pollMs,
    );
}

/** Placement check of an existing shard map (replica on its master's k8s node, or zone when zones vary). */
export function placementWarnings(shards: readonly ShardInfo[], zonesVary: boolean): string[] {
    const warnings: string[] = [];
    for (const s of shards) {
        for (const r of s.replicas) {
            if (r.k8sNode && r.k8sNode === s.master.k8sNode) {
                warnings.push(`replica ${r.address} shares k8s node ${r.k8sNode} with its master ${s.master.address}`);
            } else if (zonesVary && r.zone && r.zone === s.master.zone) {
                warnings.push(`replica ${r.address} shares zone ${r.zone} with its master ${s.master.address}`);
            }
        }
    }
    return warnings;
}

/** Forms (or verifies, or scales out) the cluster over `o.nodes`. See the module comment. */
export function form(o: FormOptions): Promise<FormResult> {
    return new Engine(o).run();
}
