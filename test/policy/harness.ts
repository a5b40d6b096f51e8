/**
 * Runs the pack's policies the way the Pulumi analyzer does (policy/index.ts is never
 * loaded: constructing a PolicyPack starts a gRPC server). Mirrors @pulumi/policy's
 * server: props behind the unknown-checking proxy (an unknown value read during preview
 * becomes an advisory "can't run during preview"), notApplicable as an exception,
 * per-policy config and enforcement-level overrides, stack policies over every resource.
 */
import type {
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";
import { resourcePolicies, stackPolicies } from "../../policy/policies";

// Internal to @pulumi/policy (its .d.ts hides them); the same objects its server uses.
const proxy = require("@pulumi/policy/proxy") as {
    unknownCheckingProxy<T extends object>(o: T): T;
    UnknownValueError: new (...args: never[]) => Error;
};

/** A resource as the engine hands it to policies (inputs for resource policies, outputs for stack policies). */
export interface SubjectResource {
    readonly type: string;
    readonly name: string;
    readonly props: Record<string, unknown>;
    readonly urn?: string;
}

export interface Violation {
    readonly policy: string;
    readonly level: EnforcementLevel;
    readonly message: string;
    readonly urn?: string;
}

export interface Outcome {
    readonly violations: Violation[];
    /** Policies that declared themselves not applicable, with the resource's URN (or "stack"). */
    readonly notApplicable: { policy: string; subject: string }[];
}

/** Per policy: `{ enforcementLevel?, ...config }`, like a policy group's configuration. */
export type PackConfig = Readonly<Record<string, Readonly<Record<string, unknown>>>>;

class NotApplicable extends Error {}

const noOptions: PolicyResourceOptions = {
    protect: false,
    ignoreChanges: [],
    aliases: [],
    customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
    additionalSecretOutputs: [],
};

/** The URN a resource gets when the caller gave none (test stack, top level). */
export function urnOf(r: Pick<SubjectResource, "type" | "name" | "urn">): string {
    return r.urn ?? `urn:pulumi:test::redis-cluster-gke::${r.type}::${r.name}`;
}

function levelOf(p: ResourceValidationPolicy | StackValidationPolicy, config: PackConfig): EnforcementLevel {
    return (config[p.name]?.enforcementLevel as EnforcementLevel | undefined) ?? p.enforcementLevel ?? "mandatory";
}

function configGetter(p: { name: string }, config: PackConfig) {
    return <T extends object>(): T => {
        const { enforcementLevel: _ignored, ...rest } = config[p.name] ?? {};
        return rest as T;
    };
}

const throwNotApplicable = (reason?: string): never => {
    throw new NotApplicable(reason);
};

/** Runs one policy's invocation, sorting its outcome into violations / not applicable / unknown-at-preview. */
async function invoke(
    p: ResourceValidationPolicy | StackValidationPolicy,
    level: EnforcementLevel,
    subject: string,
    run: (report: (message: string, urn?: string) => void) => Promise<void> | void,
    out: Outcome,
    defaultUrn?: string,
): Promise<void> {
    try {
        await run((message, urn) => out.violations.push({ policy: p.name, level, message, urn: urn ?? defaultUrn }));
    } catch (e) {
        if (e instanceof NotApplicable) {
            out.notApplicable.push({ policy: p.name, subject });
        } else if (e instanceof proxy.UnknownValueError) {
            out.violations.push({
                policy: p.name,
                level: "advisory",
                message: `can't run during preview: ${(e as Error).message}`,
                urn: defaultUrn,
            });
        } else {
            throw new Error(`policy ${p.name} threw on ${subject}: ${(e as Error).stack}`, { cause: e });
        }
    }
}

export async function runResourcePolicy(
    p: ResourceValidationPolicy,
    r: SubjectResource,
    config: PackConfig = {},
    out: Outcome = emptyOutcome(),
): Promise<Outcome> {
    const level = levelOf(p, config);
    if (level === "disabled" || !p.validateResource) return out;
    const validations = Array.isArray(p.validateResource) ? p.validateResource : [p.validateResource];
    for (const validate of validations) {
        const props = proxy.unknownCheckingProxy(structuredClone(r.props));
        const args: ResourceValidationArgs = {
            type: r.type,
            props,
            urn: urnOf(r),
            name: r.name,
            opts: noOptions,
            stackTags: new Map(),
            isType: () => {
                throw new Error("the pack matches type tokens, not classes");
            },
            asType: () => {
                throw new Error("the pack matches type tokens, not classes");
            },
            getConfig: configGetter(p, config),
            notApplicable: throwNotApplicable,
        };
        await invoke(p, level, urnOf(r), (report) => validate(args, report), out, urnOf(r));
    }
    return out;
}

export async function runStackPolicy(
    p: StackValidationPolicy,
    resources: readonly SubjectResource[],
    config: PackConfig = {},
    out: Outcome = emptyOutcome(),
): Promise<Outcome> {
    const level = levelOf(p, config);
    if (level === "disabled") return out;
    const policyResources: PolicyResource[] = resources.map((r) => ({
        type: r.type,
        props: proxy.unknownCheckingProxy(structuredClone(r.props)),
        urn: urnOf(r),
        name: r.name,
        opts: noOptions,
        dependencies: [],
        propertyDependencies: {},
        isType: () => {
            throw new Error("the pack matches type tokens, not classes");
        },
        asType: () => {
            throw new Error("the pack matches type tokens, not classes");
        },
    }));
    const args: StackValidationArgs = {
        resources: policyResources,
        stackTags: new Map(),
        getConfig: configGetter(p, config),
        notApplicable: throwNotApplicable,
    };
    await invoke(p, level, "stack", (report) => p.validateStack(args, report), out);
    return out;
}

/** The whole pack over a stack: every resource policy on every resource, then every stack policy. */
export async function runPack(resources: readonly SubjectResource[], config: PackConfig = {}): Promise<Outcome> {
    const out = emptyOutcome();
    for (const p of resourcePolicies) for (const r of resources) await runResourcePolicy(p, r, config, out);
    for (const p of stackPolicies) await runStackPolicy(p, resources, config, out);
    return out;
}

export function emptyOutcome(): Outcome {
    return { violations: [], notApplicable: [] };
}

/** Names of the policies with at least one violation at `level` (sorted, unique). */
export function violated(out: Outcome, level?: EnforcementLevel): string[] {
    return [...new Set(out.violations.filter((v) => level === undefined || v.level === level).map((v) => v.policy))].sort();
}
