/**
 * One function per Redis command the formation sends (redis-cli's cluster manager is the model):
 * each builds the command's arguments, so every path sends the same words, and several commands
 * for one node can travel together (one exec over Kubernetes). `send` and `sendEach` put them on
 * the wire through a Transport. Pure except for those two.
 */
import { FORMATION_DEFAULTS } from "./defaults";
import { SlotRange } from "./slots";
import { NodeTarget, PASSWORD_ARG, Transport, USER_ARG, splitAddress } from "./transport";

/** A command's arguments, as Transport.call takes them. */
export type Command = readonly string[];

/** CLUSTER NODES: the node's view of every node, slot and open slot. */
export const clusterNodes = (): Command => ["CLUSTER", "NODES"];
/** CLUSTER INFO: cluster_state among others. */
export const clusterInfo = (): Command => ["CLUSTER", "INFO"];
/** INFO replication: a replica's master_link_status. */
export const infoReplication = (): Command => ["INFO", "replication"];
/** DBSIZE: keys the node holds. */
export const dbSize = (): Command => ["DBSIZE"];
/** CONFIG GET cluster-node-timeout. */
export const getNodeTimeout = (): Command => ["CONFIG", "GET", "cluster-node-timeout"];
/** CONFIG SET cluster-node-timeout (in memory only: a restart reads the configured value again). */
export const setNodeTimeout = (ms: number): Command => ["CONFIG", "SET", "cluster-node-timeout", String(ms)];
/** CLUSTER SET-CONFIG-EPOCH: only accepted while the node knows no other node. */
export const setConfigEpoch = (epoch: number): Command => ["CLUSTER", "SET-CONFIG-EPOCH", String(epoch)];
/** CLUSTER ADDSLOTSRANGE start end [start end …]. */
export const addSlotsRange = (ranges: readonly SlotRange[]): Command => [
    "CLUSTER",
    "ADDSLOTSRANGE",
    ...ranges.flatMap(([a, b]) => [String(a), String(b)]),
];
/** CLUSTER MEET ip port: a handshake with the node at `address`. */
export function meet(address: string): Command {
    const [host, port] = splitAddress(address);
    return ["CLUSTER", "MEET", host, String(port)];
}
/** INFO memory: used_memory, used_memory_dataset, maxmemory. */
export const infoMemory = (): Command => ["INFO", "memory"];
/** CLUSTER FORGET: drop a node from this node's table (and ban it for 60 s). */
export const forget = (nodeId: string): Command => ["CLUSTER", "FORGET", nodeId];
/** CLUSTER RESET (soft: the node keeps its id): forget every node and every slot; a replica flushes its copy. */
export const clusterReset = (): Command => ["CLUSTER", "RESET"];
/** CLUSTER FAILOVER without FORCE or TAKEOVER: the coordinated manual failover (the master hands over its last writes). */
export const failover = (): Command => ["CLUSTER", "FAILOVER"];
/** CONFIG SET cluster-replica-no-failover: with `allowed` false this replica never takes over by itself. */
export const setReplicaFailover = (allowed: boolean): Command => ["CONFIG", "SET", "cluster-replica-no-failover", allowed ? "no" : "yes"];
/** CONFIG GET of the settings a plan looks at (Redis 7 takes several names): the node timeout, whether it may be promoted. */
export const getPlanConfig = (): Command => ["CONFIG", "GET", "cluster-node-timeout", "cluster-replica-no-failover"];
/** CLUSTER REPLICATE: become a replica of the master with this id. */
export const replicate = (masterId: string): Command => ["CLUSTER", "REPLICATE", masterId];
/** CLUSTER SETSLOT slot IMPORTING: the receiver's side of a move. */
export const setSlotImporting = (slot: number, fromId: string): Command => ["CLUSTER", "SETSLOT", String(slot), "IMPORTING", fromId];
/** CLUSTER SETSLOT slot MIGRATING: the donor's side of a move. */
export const setSlotMigrating = (slot: number, toId: string): Command => ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", toId];
/** CLUSTER SETSLOT slot NODE: ends a move, on the receiver first and then on the donor. */
export const setSlotNode = (slot: number, nodeId: string): Command => ["CLUSTER", "SETSLOT", String(slot), "NODE", nodeId];
/** CLUSTER SETSLOT slot STABLE: cancels a move no key took part in. */
export const setSlotStable = (slot: number): Command => ["CLUSTER", "SETSLOT", String(slot), "STABLE"];
/** CLUSTER GETKEYSINSLOT slot count. */
export const getKeysInSlot = (slot: number, count: number = FORMATION_DEFAULTS.keysPerMigrate): Command => [
    "CLUSTER",
    "GETKEYSINSLOT",
    String(slot),
    String(count),
];
/** CLUSTER COUNTKEYSINSLOT slot. */
export const countKeysInSlot = (slot: number): Command => ["CLUSTER", "COUNTKEYSINSLOT", String(slot)];
/**
 * MIGRATE of `keys` to the node at `address`, authenticated as the transport's own user (each transport
 * fills USER_ARG and PASSWORD_ARG in its own way). No REPLACE: a key already on the target means something is
 * wrong, and failing beats overwriting it.
 */
export function migrateKeys(address: string, keys: readonly string[], timeoutMs: number = FORMATION_DEFAULTS.migrateTimeoutMs): Command {
    const [host, port] = splitAddress(address);
    return ["MIGRATE", host, String(port), "", "0", String(timeoutMs), "AUTH2", USER_ARG, PASSWORD_ARG, "KEYS", ...keys];
}

/** Sends one command to one node; resolves with the reply as text. */
export function send(transport: Transport, node: NodeTarget, command: Command): Promise<string> {
    return transport.call(node.target, command);
}

/** Sends several commands to one node in order (one exec over Kubernetes), ignoring their replies. */
export function sendEach(transport: Transport, node: NodeTarget, commands: readonly Command[]): Promise<void> {
    return commands.length === 0 ? Promise.resolve() : transport.callEach(node.target, commands);
}
