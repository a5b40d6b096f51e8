/**
 * A plan as people read it, pure: one numbered line per phase, then what each step does, with slot
 * moves as a table the way `redis-cli --cluster reshard` shows its plan. The engine logs this before
 * it sends anything, and the same text can be shown at `pulumi preview`.
 */
import { countSlots, formatRanges, toRanges } from "./slots";
import { Plan, Step, StepKind } from "./steps";

/** Lines shown per group of like steps before "… and N more". */
const MAX_LINES_PER_GROUP = 12;

/** The plan as text, several lines. */
export function renderPlan(plan: Plan): string {
    const lines = [`plan: ${plan.summary}`];
    plan.phases.forEach((phase, i) => lines.push(`  ${i + 1}. ${phase.title}`, ...renderSteps(phase.steps).map((l) => `       ${l}`)));
    if (plan.phases.length === 0) lines.push("  (nothing to change)");
    if (plan.cleanup.length > 0)
        lines.push(`  afterwards, and also if a step fails:`, ...renderSteps(plan.cleanup).map((l) => `       ${l}`));
    if (plan.outcome) {
        lines.push(
            `  then: wait until formed (all slots covered, one view on every node, every replica link up) and usable (cluster_state:ok everywhere)`,
        );
    }
    for (const w of plan.placementWarnings ?? []) lines.push(`  placement warning: ${w}`);
    return lines.join("\n");
}

/** Consecutive steps of one kind, rendered together. */
function renderSteps(steps: readonly Step[]): string[] {
    const groups: Step[][] = [];
    for (const s of steps) {
        const last = groups[groups.length - 1];
        if (last && last[0].kind === s.kind) last.push(s);
        else groups.push([s]);
    }
    return groups.flatMap((g) => capped(renderGroup(g)));
}

function capped(lines: readonly string[]): string[] {
    if (lines.length <= MAX_LINES_PER_GROUP) return [...lines];
    return [...lines.slice(0, MAX_LINES_PER_GROUP - 1), `… and ${lines.length - MAX_LINES_PER_GROUP + 1} more`];
}

type StepOf<K extends StepKind> = Extract<Step, { kind: K }>;

/** Lines of a group of steps of one kind (an exhaustive switch: a new step kind must say how it reads). */
function renderGroup(group: readonly Step[]): string[] {
    const of = <K extends StepKind>(_kind: K) => group as readonly StepOf<K>[];
    const kind = group[0].kind;
    switch (kind) {
        case "lower-node-timeout":
            return [
                `cluster-node-timeout ${of(kind)[0].ms} ms while forming: ${of(kind)
                    .map((s) => s.node)
                    .join(", ")}`,
            ];
        case "set-config-epoch":
            return [
                `config epochs: ${of(kind)
                    .map((s) => `${s.node}=${s.epoch}`)
                    .join(", ")}`,
            ];
        case "add-slots":
            return table(
                ["master", "slots", "count"],
                of(kind).map((s) => [s.node, formatRanges(s.ranges), String(countSlots(s.ranges))]),
            );
        case "wait-known":
        case "wait-usable":
            return [];
        case "move-slots":
            return table(
                ["from", "to", "slots", "ranges"],
                of(kind).map((s) => [s.from, s.to, String(s.slots.length), formatRanges(toRanges(s.slots))]),
            );
        case "replica-failover":
            return failoverMarkLines(of(kind));
        case "forget":
            return [forgetLine(of(kind))];
        default:
            // Every other kind reads one line per step; `kind` is narrowed to those kinds here, so a new
            // kind that is not handled above fails to compile until stepLine says how it reads.
            return of(kind).map(stepLine);
    }
}

/** Kinds whose group reads one line per step, each whole on its own (the others summarise the group). */
type PerStepKind = "restore-node-timeout" | "meet" | "replicate" | "pair" | "finish-move" | "cancel-move" | "handover" | "reset";

/** The one line of a step whose kind reads step by step (an exhaustive switch over those kinds). */
function stepLine(step: StepOf<PerStepKind>): string {
    const kind = step.kind;
    switch (kind) {
        case "restore-node-timeout":
            return `cluster-node-timeout back to ${step.ms} ms on ${step.node} (checked)`;
        case "meet":
            return `${step.from} meets ${step.to.length === 1 ? step.to[0] : `${step.to.length} nodes: ${step.to.join(", ")}`}`;
        case "replicate":
            return `${step.replica} replicates ${step.master} (${step.masterId})${step.previousMaster ? `, instead of ${step.previousMaster}` : ""}`;
        case "pair":
            return `${step.replica} meets and replicates ${step.master} (${step.masterId})`;
        case "finish-move":
            return `slot ${step.slot}: ${step.from} -> ${step.to}${step.openOnReceiver ? " (the receiver's IMPORTING first)" : ""}`;
        case "cancel-move":
            return `slot ${step.slot}: SETSLOT STABLE on ${step.node} (never migrated by ${step.fromId})`;
        case "handover":
            return `${step.replica} takes over from ${step.master} once in sync; ${step.master} then replicates it`;
        case "reset":
            return `CLUSTER RESET on ${step.node}: it forgets every node and leaves the cluster`;
        default:
            return unreachable(kind);
    }
}

/**
 * The drain's no-failover marks: one line for the nodes marked (the drain's leaving nodes) and one for
 * the nodes released (a converge plan unmarks nodes that stayed after all), since the two mean opposite things.
 */
function failoverMarkLines(steps: readonly StepOf<"replica-failover">[]): string[] {
    const [off, on] = [false, true].map((allowed) => steps.filter((s) => s.allowed === allowed).map((s) => s.node));
    return [
        ...(off.length ? [`cluster-replica-no-failover yes (never promoted while they leave): ${off.join(", ")}`] : []),
        ...(on.length ? [`cluster-replica-no-failover no again (a drain had marked them; they stay): ${on.join(", ")}`] : []),
    ];
}

/** One line for the whole group: the nodes count, and each departed node is named once, however many steps forget it. */
function forgetLine(steps: readonly StepOf<"forget">[]): string {
    const departed = [...new Map(steps.flatMap((s) => s.departed.map((d) => [d.id, d] as const))).values()];
    return `CLUSTER FORGET on ${steps.length} nodes: ${departed.map((d) => `${d.address} (${d.id})`).join(", ")}`;
}

function unreachable(kind: never): never {
    throw new Error(`renderPlan: no rendering for step kind ${String(kind)}`);
}

/** Left-aligned columns, numbers right-aligned. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
    const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
    const numeric = header.map((_, c) => rows.length > 0 && rows.every((r) => /^\d+$/.test(r[c])));
    const line = (cells: readonly string[]) =>
        cells
            .map((cell, c) => (numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
            .join("  ")
            .trimEnd();
    return [line(header), ...rows.map(line)];
}
