/**
 * The observed cluster, pure: CLUSTER NODES parsed in one place, what each node says about itself
 * and its peers, the "formed" and "usable" checks, the shard map and its placement warnings.
 * The reads that feed these live in observe.ts.
 */
import { SLOT_COUNT } from "../shape";
import { SlotRange, countSlots, expandSlots, toRanges } from "./slots";
import type { PlanNode } from "./placement";
import type { NodeTarget } from "./transport";

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

/** Parses CLUSTER NODES output (the one parser of it in this project). */
export function parseClusterNodes(text: string): ClusterNodeEntry[] {
    return text
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean)
        .map(parseClusterNodesLine);
}

function parseClusterNodesLine(line: string): ClusterNodeEntry {
    const [id, addr, flagText, master, , , epoch, linkState, ...slotFields] = line.split(" ");
    const [ipPort, hostname] = addr.split(",");
    const slotRanges: SlotRange[] = [];
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
    }
    return {
        id,
        address: ipPort.split("@")[0],
        hostname: hostname || undefined,
        flags: flagText.split(","),
        masterId: master === "-" ? undefined : master,
        configEpoch: Number(epoch),
        linkState,
        slotRanges,
        slotCount: countSlots(slotRanges),
        migrating,
        importing,
    };
}

/** The entry flagged `myself`, or a clear error (a node without cluster mode has none). */
export function selfEntry(entries: readonly ClusterNodeEntry[], address: string): ClusterNodeEntry {
    const self = entries.find((e) => e.flags.includes("myself"));
    if (!self) throw new Error(`${address}: CLUSTER NODES has no "myself" line (is cluster-enabled on?)`);
    return self;
}

/** Whether `entry` owns `slot`, read off its ranges (no expansion to slot numbers). */
export function ownsSlot(entry: ClusterNodeEntry, slot: number): boolean {
    return entry.slotRanges.some(([a, b]) => slot >= a && slot <= b);
}

/** A peer still in the MEET handshake: not yet a member, whatever it claims. */
export const inHandshake = (e: ClusterNodeEntry) => e.flags.includes("handshake");

/** `cluster_state` from CLUSTER INFO ("ok", "fail"), or "unknown". */
export function clusterStateOf(clusterInfo: string): string {
    return /cluster_state:(\w+)/.exec(clusterInfo)?.[1] ?? "unknown";
}

/** `master_link_status` from INFO replication (a replica's link), or undefined on a master. */
export function linkStatusOf(replicationInfo: string): string | undefined {
    return /master_link_status:(\w+)/.exec(replicationInfo)?.[1];
}

/** A CONFIG GET reply (`name\nvalue` pairs) as a map. */
export function configOf(reply: string): Map<string, string> {
    const lines = reply.split("\n");
    return new Map(Array.from({ length: Math.floor(lines.length / 2) }, (_, i) => [lines[2 * i], lines[2 * i + 1]] as const));
}

/** The value of a CONFIG GET reply of one parameter (`name\nvalue`), as a number. */
export function configNumberOf(reply: string, name: string): number {
    const [key, value] = reply.split("\n");
    if (key !== name || !/^\d+$/.test(value ?? "")) throw new Error(`CONFIG GET ${name}: unexpected reply ${JSON.stringify(reply)}`);
    return Number(value);
}

/** What one node reports about itself and its peers, read before planning. */
export interface NodeView {
    readonly address: string;
    readonly self: ClusterNodeEntry;
    readonly peers: readonly ClusterNodeEntry[];
    /** DBSIZE. */
    readonly keys: number;
    /** cluster-node-timeout the node runs with now (CONFIG GET). */
    readonly nodeTimeoutMs: number;
    /** cluster-replica-no-failover is yes: a drain marked it, and it was never removed (a scale-in undone). */
    readonly noFailover: boolean;
    /** Keys held in slots this node imports from a node that is not migrating them (COUNTKEYSINSLOT). */
    readonly strayImportKeys: ReadonlyMap<number, number>;
    /** INFO memory, read only when a plan needs it (a scale-in checks the keys fit the masters that stay). */
    readonly memory?: MemoryInfo;
}

/** What INFO memory says about room for more keys. */
export interface MemoryInfo {
    readonly usedBytes: number;
    /** The keys' share of usedBytes (used_memory_dataset). */
    readonly datasetBytes: number;
    /** maxmemory; 0 = no limit. */
    readonly maxBytes: number;
}

/** A numeric field of an INFO section (`name:value` lines), or undefined. */
export function infoNumber(info: string, field: string): number | undefined {
    const m = new RegExp(`^${field}:(\\d+)\\r?$`, "m").exec(info);
    return m ? Number(m[1]) : undefined;
}

/** INFO memory parsed; a reply without the fields is an error naming them. */
export function memoryInfoOf(info: string): MemoryInfo {
    const [usedBytes, datasetBytes, maxBytes] = ["used_memory", "used_memory_dataset", "maxmemory"].map((f) => infoNumber(info, f));
    if (usedBytes === undefined || datasetBytes === undefined || maxBytes === undefined)
        throw new Error(`INFO memory: no used_memory, used_memory_dataset or maxmemory in ${JSON.stringify(info.slice(0, 200))}`);
    return { usedBytes, datasetBytes, maxBytes };
}

/**
 * Whether a replica is ready to take over from its master without losing a write: its link is up and its
 * offset has reached the master's offset read just before (INFO replication of each, master first). What
 * is missing, or undefined when in sync.
 */
export function syncPending(replica: string, replicaInfo: string, masterOffsetBefore: number): string | undefined {
    const link = linkStatusOf(replicaInfo);
    if (link !== "up") return `${replica} master_link_status:${link ?? "unknown (not a replica)"}`;
    const offset = infoNumber(replicaInfo, "slave_repl_offset");
    if (offset === undefined) return `${replica} reports no slave_repl_offset`;
    return offset >= masterOffsetBefore ? undefined : `${replica} is at offset ${offset}, its master at ${masterOffsetBefore}`;
}

/** Slots each node imports from a node that is not migrating them to it: a move that never started. */
export function strayImports(views: readonly Pick<NodeView, "self">[]): Map<string, number[]> {
    const byId = new Map(views.map((v) => [v.self.id, v.self]));
    const out = new Map<string, number[]>();
    for (const v of views) {
        const stray = [...v.self.importing].filter(([slot, fromId]) => byId.get(fromId)?.migrating.get(slot) !== v.self.id);
        if (stray.length > 0)
            out.set(
                v.self.id,
                stray.map(([slot]) => slot),
            );
    }
    return out;
}

/** One node's report for the "formed" check. */
export interface FormedReport {
    readonly n: NodeTarget;
    readonly entries: readonly ClusterNodeEntry[];
    /** master_link_status on a replica; "n/a" on a master. */
    readonly link: string | undefined;
}

/** Flags that mean a node is not a settled member yet (or any more). */
const UNSETTLED_FLAGS = ["handshake", "fail", "fail?", "noaddr"];

/** The "formed" check: what is still pending, or undefined once formed (then passes the agreed view). */
export function formedPending(
    reports: readonly FormedReport[],
    expectedNodes: number,
    onAgreed: (view: ClusterNodeEntry[]) => void,
): string | undefined {
    const pending: string[] = [];
    let reference: string | undefined;
    for (const r of reports) {
        const bad = r.entries.filter((e) => e.flags.some((f) => UNSETTLED_FLAGS.includes(f)));
        if (r.entries.length !== expectedNodes) pending.push(`${r.n.address} knows ${r.entries.length}/${expectedNodes} nodes`);
        if (bad.length) pending.push(`${r.n.address} sees ${bad.map((e) => `${e.address}(${e.flags.join(",")})`).join(" ")}`);
        const covered = r.entries.reduce((k, e) => k + e.slotCount, 0);
        if (covered !== SLOT_COUNT) pending.push(`${r.n.address} sees ${covered}/${SLOT_COUNT} slots`);
        if (r.link !== "n/a" && r.link !== "up") pending.push(`${r.n.address} master_link_status:${r.link ?? "unknown"}`);
        const sig = viewSignature(r.entries);
        if (reference === undefined) reference = sig;
        else if (sig !== reference) pending.push(`${r.n.address} disagrees with ${reports[0].n.address} on roles or slots`);
    }
    if (pending.length) return pending.slice(0, 8).join("; ") + (pending.length > 8 ? ` (+${pending.length - 8} more)` : "");
    onAgreed([...reports[0].entries]);
    return undefined;
}

/** Nodes, roles and slots of a view, in a form two nodes' views can be compared by. */
function viewSignature(entries: readonly ClusterNodeEntry[]): string {
    return entries
        .map(
            (e) =>
                `${e.id} ${e.flags.includes("master") ? "master" : "replica"} ${e.masterId ?? "-"} ${e.slotRanges.map((r) => r.join("-")).join(",")}`,
        )
        .sort()
        .join("\n");
}

/** The "usable" check: every node reports cluster_state:ok (clients get CLUSTERDOWN before); what is pending, or undefined. */
export function usablePending(states: readonly (readonly [address: string, state: string])[]): string | undefined {
    const notOk = states.filter(([, st]) => st !== "ok");
    return notOk.length ? notOk.map(([a, st]) => `${a} cluster_state:${st}`).join("; ") : undefined;
}

/** A node of the shard map: where it runs, and its id. */
export interface ShardMember extends PlanNode {
    readonly id: string;
}

export interface ShardInfo {
    readonly master: ShardMember;
    readonly slots: readonly SlotRange[];
    readonly replicas: readonly ShardMember[];
}

/** Where a node runs, for the shard map. */
export type PlacementOf = (address: string) => { readonly k8sNode?: string; readonly zone?: string } | undefined;

/** Masters by their first slot, each with its replicas (by address), from an agreed view. */
export function shardMap(entries: readonly ClusterNodeEntry[], placementOf: PlacementOf): ShardInfo[] {
    const member = (e: ClusterNodeEntry): ShardMember => {
        const p = placementOf(e.address);
        return { address: e.address, id: e.id, ...(p?.k8sNode ? { k8sNode: p.k8sNode } : {}), ...(p?.zone ? { zone: p.zone } : {}) };
    };
    return entries
        .filter((e) => e.slotCount > 0)
        .sort((a, b) => a.slotRanges[0][0] - b.slotRanges[0][0])
        .map((m) => ({
            master: member(m),
            slots: toRanges(expandSlots(m.slotRanges)),
            replicas: entries
                .filter((e) => e.masterId === m.id)
                .sort((a, b) => a.address.localeCompare(b.address))
                .map(member),
        }));
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
