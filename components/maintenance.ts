/**
 * Pure: when GKE may upgrade the nodes. `gke:maintenanceWindow` and `gke:maintenanceExclusions` as
 * people write them, parsed and checked against GKE's own rules (so `pulumi preview` says what is
 * wrong instead of the GKE API at `pulumi up`), and rendered into the cluster's maintenancePolicy.
 * Pulumi-free, so configKeys.ts reads them.
 */

export const WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** A recurring window, in UTC: every day, or on some weekdays, from `start` for `hours`. */
export interface MaintenanceWindow {
    /** Weekdays in week order; empty: every day. */
    readonly days: readonly Weekday[];
    /** "HH:MM", UTC. */
    readonly start: string;
    /** Length in minutes (at least 4 hours; it may cross midnight). */
    readonly minutes: number;
}

export const EXCLUSION_SCOPES = ["NO_UPGRADES", "NO_MINOR_UPGRADES", "NO_MINOR_OR_NODE_UPGRADES"] as const;
export type ExclusionScope = (typeof EXCLUSION_SCOPES)[number];

/** A period in which GKE upgrades nothing (or no minor versions, or no minor versions and no nodes). */
export interface MaintenanceExclusion {
    readonly name: string;
    /** RFC 3339, UTC ("2026-11-26T00:00:00Z"). */
    readonly start: string;
    readonly end: string;
    readonly scope: ExclusionScope;
}

/** GKE counts only windows of at least 4 hours, and wants 48 hours of them in any 32 days. */
const MIN_WINDOW_MINUTES = 4 * 60;
const MIN_HOURS_PER_32_DAYS = 48;
/** A NO_UPGRADES exclusion lasts at most 30 days, and a cluster may have 3 of them and 20 in all. */
const MAX_NO_UPGRADES_DAYS = 30;
const MAX_NO_UPGRADES = 3;
const MAX_EXCLUSIONS = 20;

export const WINDOW_HELP =
    "`daily` or weekdays (MO,TU,WE,TH,FR,SA,SU separated by commas), then a UTC time range HH:MM-HH:MM of at least 4 hours (it may cross midnight), 48 hours a month at least, such as `SA,SU 01:00-07:00`";
export const EXCLUSIONS_HELP = `exclusions separated by commas, each NAME=START/END[/SCOPE] with RFC 3339 UTC times and SCOPE one of ${EXCLUSION_SCOPES.join(", ")} (default NO_UPGRADES, at most ${MAX_NO_UPGRADES_DAYS} days, at most ${MAX_NO_UPGRADES} of them; ${MAX_EXCLUSIONS} exclusions in all)`;

const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MINUTES_PER_DAY = 24 * 60;

function minutesOf(hhmm: string): number | undefined {
    const m = TIME.exec(hhmm);
    return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

/** `SA,SU 01:00-07:00` or `daily 02:00-06:00` -> the window, or what is wrong with it. */
export function parseMaintenanceWindow(text: string): { value: MaintenanceWindow } | { problem: string } {
    const m = /^\s*(\S+)\s+(\d\d:\d\d)-(\d\d:\d\d)\s*$/.exec(text);
    if (!m) return { problem: `use ${WINDOW_HELP}` };
    const start = minutesOf(m[2]);
    const end = minutesOf(m[3]);
    const dayList = m[1] === "daily" ? [] : m[1].split(",");
    if (start === undefined || end === undefined || dayList.some((d) => !(WEEKDAYS as readonly string[]).includes(d)))
        return { problem: `use ${WINDOW_HELP}` };
    const days = WEEKDAYS.filter((d) => dayList.includes(d));
    if (days.length !== dayList.length) return { problem: `a weekday is listed twice; use ${WINDOW_HELP}` };
    const minutes = (end - start + MINUTES_PER_DAY) % MINUTES_PER_DAY;
    if (minutes < MIN_WINDOW_MINUTES)
        return { problem: `the window lasts ${minutes / 60} hours; GKE counts only windows of 4 hours or more (${WINDOW_HELP})` };
    // Any 32 days hold each weekday at least 4 times.
    const hoursPer32Days = ((days.length === 0 ? 32 : 4 * days.length) * minutes) / 60;
    if (hoursPer32Days < MIN_HOURS_PER_32_DAYS)
        return {
            problem: `it allows ${hoursPer32Days} hours in some 32 days; GKE wants at least ${MIN_HOURS_PER_32_DAYS} (more days or longer windows)`,
        };
    return { value: { days, start: m[2], minutes } };
}

/** `black-friday=2026-11-26T00:00:00Z/2026-12-01T00:00:00Z[/NO_MINOR_UPGRADES], …` -> the exclusions, or what is wrong. */
export function parseMaintenanceExclusions(text: string): { value: readonly MaintenanceExclusion[] } | { problem: string } {
    const exclusions: MaintenanceExclusion[] = [];
    for (const item of text.split(",").map((i) => i.trim())) {
        const m = /^([^=]+)=([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(item);
        if (!m) return { problem: `${JSON.stringify(item)}: use ${EXCLUSIONS_HELP}` };
        const [, name, start, end, scopeText] = m;
        const scope = (scopeText ?? "NO_UPGRADES") as ExclusionScope;
        if (!NAME.test(name) || name.length > 63)
            return { problem: `${JSON.stringify(name)}: a name is a DNS label (lowercase letters, digits, '-')` };
        if (!EXCLUSION_SCOPES.includes(scope))
            return { problem: `${name}: scope ${scopeText} is not one of ${EXCLUSION_SCOPES.join(", ")}` };
        const from = INSTANT.test(start) ? Date.parse(start) : NaN;
        const to = INSTANT.test(end) ? Date.parse(end) : NaN;
        if (!Number.isFinite(from) || !Number.isFinite(to))
            return { problem: `${name}: times are RFC 3339 in UTC, such as 2026-11-26T00:00:00Z` };
        if (to <= from) return { problem: `${name}: ends at or before it starts` };
        if (scope === "NO_UPGRADES" && to - from > MAX_NO_UPGRADES_DAYS * 86_400_000)
            return {
                problem: `${name}: a NO_UPGRADES exclusion lasts at most ${MAX_NO_UPGRADES_DAYS} days in GKE (NO_MINOR_UPGRADES may last longer)`,
            };
        if (exclusions.some((e) => e.name === name)) return { problem: `${name}: two exclusions share this name` };
        exclusions.push({ name, start, end, scope });
    }
    if (exclusions.filter((e) => e.scope === "NO_UPGRADES").length > MAX_NO_UPGRADES)
        return { problem: `GKE allows at most ${MAX_NO_UPGRADES} NO_UPGRADES exclusions` };
    if (exclusions.length > MAX_EXCLUSIONS) return { problem: `GKE allows at most ${MAX_EXCLUSIONS} exclusions` };
    return { value: exclusions };
}

/** Monday 2025-01-06: the week the first occurrence of a window is dated in (any past week would do). */
const FIRST_MONDAY = Date.UTC(2025, 0, 6);

/**
 * The window as GKE's recurring window: its first occurrence (on its first weekday, so the start
 * matches the rule) and an RFC 5545 rule. Fixed dates, so `pulumi preview` shows no diff.
 */
export function recurringWindow(w: MaintenanceWindow): { startTime: string; endTime: string; recurrence: string } {
    const dayOffset = w.days.length === 0 ? 0 : WEEKDAYS.indexOf(w.days[0]);
    const start = FIRST_MONDAY + dayOffset * 86_400_000 + (minutesOf(w.start) ?? 0) * 60_000;
    const iso = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, "Z");
    return {
        startTime: iso(start),
        endTime: iso(start + w.minutes * 60_000),
        recurrence: w.days.length === 0 ? "FREQ=DAILY" : `FREQ=WEEKLY;BYDAY=${w.days.join(",")}`,
    };
}
