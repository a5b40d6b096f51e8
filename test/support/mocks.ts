/**
 * Runs a Pulumi program under `pulumi.runtime.setMocks` and returns everything it registered, so
 * tests can assert on the resource graph without a Pulumi CLI or a cloud.
 *
 * Usage (each call is a fresh, independent evaluation; several may run in one mocha process, one
 * after another — never concurrently, the Pulumi runtime is a process-wide singleton):
 *
 *   const run = await runProgram({ config: { "redis-cluster-gke:target": "existing" },
 *                                  secrets: { "redis-cluster-gke:kubeconfig": "apiVersion: v1 ..." } });
 *   run.ofType("kubernetes:apps/v1:StatefulSet")[0].inputs.spec.replicas;
 *   run.outputs.password.secret === true;
 *
 * By default the program is the project's own (`composeStack(loadSettings(), …)`, exactly what
 * index.ts runs); pass `program` to evaluate something else, e.g. a single component.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the inputs and state of arbitrary resources have no type
   of their own (Pulumi's MockResourceArgs.inputs is `any`); tests read them by path. */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, loadSettings } from "../../components/config";
import { composeStack, StackOutputs } from "../../components/stack";
import { bundleServer } from "../../components/app/bundle";
import { issueCertificate, newPrivateKeyPem } from "../../lib/x509";

/** Marker Pulumi puts around secret values in serialized properties (see @pulumi/pulumi runtime/rpc). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Stack config for one run: fully-qualified keys (`namespace:key`) to string values. */
export interface MockStackConfig {
    /** Plain values. */
    readonly config?: Readonly<Record<string, string>>;
    /**
     * Values set with `pulumi config set --secret`. As the engine does, their names go into the
     * PULUMI_CONFIG_SECRET_KEYS config entry (setAllConfig's second argument), which is where
     * loadSettings learns that they are secret; a secret-only key passed in `config` is refused.
     */
    readonly secrets?: Readonly<Record<string, string>>;
    /** Stack name (default "dev"). */
    readonly stack?: string;
}

/** One resource as the engine would have received it. */
export interface RegisteredResource {
    readonly type: string;
    readonly name: string;
    readonly urn: string;
    /** The id the mocked provider gave it. */
    readonly id: string;
    /** URN of the parent (the stack for top-level resources; undefined only for the stack itself). */
    readonly parentUrn?: string;
    /** URN of the explicit provider, if the resource was given one (custom resources only). */
    readonly providerUrn?: string;
    /** false for ComponentResources. */
    readonly custom: boolean;
    /** Inputs with secret markers removed (see `secretPaths`). */
    readonly inputs: Record<string, any>;
    /** State the mock returned (inputs plus mocked provider outputs). */
    readonly state: Record<string, any>;
    /** Dotted paths of inputs that were marked secret, e.g. "stringData" or "kubeconfig". */
    readonly secretPaths: readonly string[];
    /** URNs of the resources named in this resource's `dependsOn` option. */
    readonly dependsOnUrns: readonly string[];
    /** The resource options the engine would act on at delete and update time. */
    readonly options: { readonly retainOnDelete: boolean; readonly protect: boolean; readonly ignoreChanges: readonly string[] };
}

export interface StackOutput {
    readonly value: unknown;
    readonly secret: boolean;
}

export interface ProgramRun {
    /** Every registered resource, in registration order (the stack first). */
    readonly resources: readonly RegisteredResource[];
    /** The program's outputs, resolved, each with its secretness. */
    readonly outputs: Readonly<Record<string, StackOutput>>;
    /** Resources of one type token, e.g. "kubernetes:apps/v1:StatefulSet". */
    ofType(type: string): RegisteredResource[];
    /** The single resource of a type (and name, when given); throws when there is not exactly one. */
    one(type: string, name?: string): RegisteredResource;
    /** Resource by URN; throws when absent. */
    byUrn(urn: string): RegisteredResource;
}

/** A program: registers resources and returns outputs (values may be Outputs). */
export type Program = () => Record<string, unknown> | Promise<Record<string, unknown>>;

/**
 * @pulumi/tls as its provider would answer: real keys and certificates (lib/x509.ts) from the inputs,
 * so tests can verify what the program asked for (names, uses, validity, the signing CA). A
 * CertRequest's PEM carries its inputs as JSON instead of a PKCS#10 request: only the mocked
 * LocallySignedCert reads it.
 */
function mockedTlsState(type: string, inputs: Record<string, any>): Record<string, any> | undefined {
    const hours = (h: unknown) => Number(h) * 3_600_000;
    const validity = () => ({ notBefore: new Date(), notAfter: new Date(Date.now() + hours(inputs.validityPeriodHours)) });
    const dates = (spec: { notBefore: Date; notAfter: Date }) => ({
        validityStartTime: spec.notBefore.toISOString(),
        validityEndTime: spec.notAfter.toISOString(),
        readyForRenewal: false,
    });
    switch (type) {
        case "tls:index/privateKey:PrivateKey": {
            const privateKeyPem = newPrivateKeyPem();
            const publicKeyPem = crypto.createPublicKey(privateKeyPem).export({ type: "spki", format: "pem" });
            return { ...inputs, privateKeyPem, privateKeyPemPkcs8: privateKeyPem, publicKeyPem };
        }
        case "tls:index/selfSignedCert:SelfSignedCert": {
            const spec = {
                ...validity(),
                commonName: inputs.subject?.commonName ?? "mock",
                isCa: inputs.isCaCertificate === true,
                uses: inputs.allowedUses,
            };
            return { ...inputs, certPem: issueCertificate(spec, inputs.privateKeyPem, { keyPem: inputs.privateKeyPem }), ...dates(spec) };
        }
        case "tls:index/certRequest:CertRequest": {
            const { subject, dnsNames, ipAddresses } = inputs;
            const publicKeyPem = crypto.createPublicKey(inputs.privateKeyPem).export({ type: "spki", format: "pem" });
            const body = Buffer.from(JSON.stringify({ publicKeyPem, subject, dnsNames, ipAddresses })).toString("base64");
            return { ...inputs, certRequestPem: `-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE REQUEST-----\n` };
        }
        case "tls:index/locallySignedCert:LocallySignedCert": {
            const request = JSON.parse(Buffer.from(String(inputs.certRequestPem).split("\n")[1], "base64").toString("utf8"));
            const spec = {
                ...validity(),
                commonName: request.subject?.commonName ?? "mock",
                dnsNames: request.dnsNames,
                ipAddresses: request.ipAddresses,
                uses: inputs.allowedUses,
            };
            const certPem = issueCertificate(spec, request.publicKeyPem, { certPem: inputs.caCertPem, keyPem: inputs.caPrivateKeyPem });
            return { ...inputs, certPem, ...dates(spec) };
        }
        default:
            return undefined;
    }
}

/**
 * The @pulumi/tls states issued so far, by type, name and inputs: the real provider keeps a key and a
 * certificate in the stack's state while their inputs do not change, so a second program run (an update
 * under mocks) gets the same ones, as `pulumi up` would, instead of fresh keys that would roll every pod.
 */
const issuedTlsStates = new Map<string, Record<string, any>>();

function mockedTlsStateKept(args: pulumi.runtime.MockResourceArgs): Record<string, any> | undefined {
    const inputs = unwrapSecrets(args.inputs) as Record<string, any>;
    const key = `${args.type}\0${args.name}\0${JSON.stringify(inputs)}`;
    const kept = issuedTlsStates.get(key);
    if (kept) return kept;
    const state = mockedTlsState(args.type, inputs);
    if (state) issuedTlsStates.set(key, state);
    return state;
}

/** States of resources whose provider keeps them while their inputs do not change (random passwords), by type, name and inputs. */
const keptStates = new Map<string, Record<string, any>>();

function keptWhileInputsUnchanged(args: pulumi.runtime.MockResourceArgs, issue: () => Record<string, any>): Record<string, any> {
    const key = `${args.type}\0${args.name}\0${JSON.stringify(unwrapSecrets(args.inputs))}`;
    const state = keptStates.get(key) ?? issue();
    keptStates.set(key, state);
    return state;
}

/** Mocked provider outputs that the real providers would compute, keyed by type token. */
function mockedState(args: pulumi.runtime.MockResourceArgs): Record<string, any> {
    const inputs = args.inputs as Record<string, any>;
    const tls = mockedTlsStateKept(args);
    if (tls) return tls;
    switch (args.type) {
        case "random:index/randomPassword:RandomPassword":
            // The real provider keeps a password in the state while its inputs (keepers) do not change.
            return keptWhileInputsUnchanged(args, () => {
                const alphabet =
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" +
                    (inputs.special ? (inputs.overrideSpecial ?? "!@#$%&*") : "");
                const length = Number(inputs.length ?? 16);
                const result = Array.from(crypto.randomBytes(length), (b) => alphabet[b % alphabet.length]).join("");
                return { ...inputs, result, bcryptHash: "mock-bcrypt" };
            });
        case "gcp:container/cluster:Cluster":
            return {
                ...inputs,
                name: inputs.name ?? `${args.name}-mock`,
                endpoint: "203.0.113.10",
                masterAuth: { clusterCaCertificate: Buffer.from("mock-ca").toString("base64") },
                controlPlaneEndpointsConfig: {
                    ...inputs.controlPlaneEndpointsConfig,
                    dnsEndpointConfig: {
                        ...inputs.controlPlaneEndpointsConfig?.dnsEndpointConfig,
                        endpoint: `gke-0123456789abcdef-${args.name}.${inputs.location}.gke.goog`,
                    },
                },
                selfLink: `https://container.googleapis.com/v1/projects/${inputs.project}/locations/${inputs.location}/clusters/${args.name}`,
            };
        case "gcp:serviceaccount/account:Account":
            return { ...inputs, email: `${inputs.accountId}@${inputs.project ?? "mock-project"}.iam.gserviceaccount.com` };
        case "kubernetes:core/v1:Service":
            return inputs.spec?.type === "LoadBalancer"
                ? { ...inputs, status: { loadBalancer: { ingress: [{ ip: "198.51.100.7" }] } } }
                : inputs;
        case "pulumi-nodejs:dynamic/redis-cluster-gke:RedisClusterFormation": {
            // What a formation of a healthy cluster reports: seeds are the pods' stable DNS names.
            const pods = Number(inputs.masters) * (1 + Number(inputs.replicasPerMaster));
            const seeds = Array.from(
                { length: pods },
                (_, i) =>
                    `${inputs.statefulSetName}-${i}.${inputs.headlessServiceName}.${inputs.namespace}.svc.cluster.local:${inputs.port ?? 6379}`,
            );
            return { ...inputs, seeds, shards: [], placementOk: true, placementWarnings: [], clusterState: "ok" };
        }
        default:
            return inputs;
    }
}

/** Removes Pulumi's secret markers, collecting the dotted paths where they were. */
export function unwrapSecrets(value: unknown, path = "", found: string[] = []): unknown {
    if (Array.isArray(value)) return value.map((v, i) => unwrapSecrets(v, path ? `${path}.${i}` : String(i), found));
    if (value && typeof value === "object") {
        const record = value as Record<string, unknown>;
        if (record[SIG_KEY] === SECRET_SIG) {
            found.push(path);
            return unwrapSecrets(record.value, path, []);
        }
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(record)) out[k] = unwrapSecrets(v, path ? `${path}.${k}` : k, found);
        return out;
    }
    return value;
}

let cachedServerSource: string | undefined;
/** The real bundled hit-counter server, built once per process (esbuild takes a moment). */
export function serverSource(): string {
    return (cachedServerSource ??= bundleServer());
}

/** The project's program, exactly as index.ts composes it. */
export const projectProgram: Program = () => {
    const stack: StackOutputs = composeStack(loadSettings(), { stack: pulumi.getStack(), appServerSource: serverSource() });
    return { ...stack };
};

interface Construction {
    /** "type::name", as the constructor was called. */
    readonly typeAndName: string;
    readonly resource: pulumi.Resource;
    readonly parent?: pulumi.Resource;
    readonly dependsOn: readonly pulumi.Resource[];
    readonly options: RegisteredResource["options"];
}

/**
 * Raised when the program fails; carries every resource constructed (besides the stack) before the
 * failure, as `type::name`. Counted when the constructor runs, not when the registration reaches the
 * mocks: registration is asynchronous, so a resource built in the same tick as the throw would never
 * reach `newResource` although `pulumi up` would have sent it to the engine.
 */
export class ProgramFailure extends Error {
    constructor(
        readonly cause: unknown,
        readonly constructed: readonly string[],
    ) {
        super(`program failed after constructing [${constructed.join(", ")}]: ${cause instanceof Error ? cause.message : String(cause)}`);
        this.name = "ProgramFailure";
    }
}

function dependencyList(dependsOn: pulumi.ResourceOptions["dependsOn"]): pulumi.Resource[] {
    const list: unknown[] = Array.isArray(dependsOn) ? dependsOn : dependsOn ? [dependsOn] : [];
    return list.filter((d): d is pulumi.Resource => pulumi.Resource.isInstance(d));
}

/**
 * Evaluates `program` (default: the project's) with the given stack config under mocks and returns
 * every registered resource and the outputs. Rejects with a ProgramFailure wrapping the program's
 * error (e.g. a ConfigError) and listing every resource constructed before it.
 */
export async function runProgram(stackConfig: MockStackConfig = {}, program: Program = projectProgram): Promise<ProgramRun> {
    const registered: { args: pulumi.runtime.MockResourceArgs; state: Record<string, any>; id: string }[] = [];
    let nextId = 0;
    const mocks: pulumi.runtime.Mocks = {
        newResource(args) {
            const state = mockedState(args);
            const id = `${args.name}-id-${nextId++}`;
            registered.push({ args, state, id });
            return { id, state };
        },
        call(args) {
            throw new Error(`unexpected invoke ${args.token}: the program is meant to make no provider calls`);
        },
    };
    await pulumi.runtime.setMocks(mocks, PROJECT, stackConfig.stack ?? "dev", false);
    const secrets = stackConfig.secrets ?? {};
    pulumi.runtime.setAllConfig({ ...(stackConfig.config ?? {}), ...secrets }, Object.keys(secrets));

    const constructions: Construction[] = [];
    let programOutputs: Record<string, unknown> = {};
    let stackResource: pulumi.Resource | undefined;
    // The program's error is caught inside the stack's init: a rejected init leaves a rejected promise
    // inside the runtime that nobody awaits, which mocha would report against an unrelated test.
    let failure: { error: unknown } | undefined;
    await pulumi.runtime.runInPulumiStack(async () => {
        stackResource = pulumi.runtime.getStackResource();
        pulumi.runtime.registerStackTransformation((t) => {
            const opts = t.opts as pulumi.CustomResourceOptions;
            // Runs inside the resource's constructor, synchronously: nothing constructed escapes the count.
            constructions.push({
                typeAndName: `${t.type}::${t.name}`,
                resource: t.resource,
                parent: t.opts.parent,
                dependsOn: dependencyList(t.opts.dependsOn),
                options: {
                    retainOnDelete: opts.retainOnDelete === true,
                    protect: opts.protect === true,
                    ignoreChanges: opts.ignoreChanges ?? [],
                },
            });
            return undefined;
        });
        try {
            programOutputs = await program();
        } catch (error) {
            failure = { error };
        }
        return {};
    });
    if (failure) {
        throw new ProgramFailure(
            failure.error,
            constructions.map((c) => c.typeAndName),
        );
    }

    // Registration is asynchronous: wait until every constructed resource has its URN, including any
    // constructed meanwhile (inside applies).
    const urnOf = new Map<pulumi.Resource, string>();
    for (let seen = -1; seen !== constructions.length;) {
        seen = constructions.length;
        await Promise.all(constructions.map(async (c) => urnOf.set(c.resource, await promiseOf(c.resource.urn))));
    }
    const outputs: Record<string, StackOutput> = {};
    for (const [key, value] of Object.entries(programOutputs)) {
        const output = pulumi.output(value);
        outputs[key] = { value: await promiseOf(output), secret: await pulumi.isSecret(output) };
    }

    const stackUrn = stackResource ? await promiseOf(stackResource.urn) : undefined;
    const parentByUrn = new Map<string, string | undefined>();
    const dependsOnByUrn = new Map<string, string[]>();
    const optionsByUrn = new Map<string, RegisteredResource["options"]>();
    const typeNameToUrn = new Map<string, string>();
    for (const c of constructions) {
        const urn = urnOf.get(c.resource)!;
        parentByUrn.set(urn, c.parent ? (urnOf.get(c.parent) ?? (await promiseOf(c.parent.urn))) : stackUrn);
        dependsOnByUrn.set(urn, await Promise.all(c.dependsOn.map((d) => promiseOf(d.urn))));
        optionsByUrn.set(urn, c.options);
        const key = typeAndNameOfUrn(urn);
        if (typeNameToUrn.has(key)) throw new Error(`two resources share type and name ${key}; give children distinct names`);
        typeNameToUrn.set(key, urn);
    }
    if (stackUrn) typeNameToUrn.set(typeAndNameOfUrn(stackUrn), stackUrn);

    const resources: RegisteredResource[] = registered.map(({ args, state, id }) => {
        const urn = typeNameToUrn.get(`${args.type}::${args.name}`);
        if (!urn) throw new Error(`registered resource ${args.type}::${args.name} was never seen being constructed`);
        const secretPaths: string[] = [];
        const inputs = unwrapSecrets(args.inputs, "", secretPaths) as Record<string, any>;
        return {
            type: args.type,
            name: args.name,
            urn,
            id,
            parentUrn: parentByUrn.get(urn),
            providerUrn: args.provider ? args.provider.slice(0, args.provider.lastIndexOf("::")) : undefined,
            custom: args.custom ?? true,
            inputs,
            state: unwrapSecrets(state) as Record<string, any>,
            secretPaths,
            dependsOnUrns: dependsOnByUrn.get(urn) ?? [],
            options: optionsByUrn.get(urn) ?? { retainOnDelete: false, protect: false, ignoreChanges: [] },
        };
    });

    return {
        resources,
        outputs,
        ofType: (type) => resources.filter((r) => r.type === type),
        one(type, name) {
            const matches = resources.filter((r) => r.type === type && (name === undefined || r.name === name));
            if (matches.length !== 1)
                throw new Error(
                    `expected exactly one ${type}${name ? ` named ${name}` : ""}, found ${matches.length}: ${matches.map((m) => m.name).join(", ")}`,
                );
            return matches[0];
        },
        byUrn(urn) {
            const r = resources.find((x) => x.urn === urn);
            if (!r) throw new Error(`no resource with URN ${urn}`);
            return r;
        },
    };
}

/** "type::name" from a URN `urn:pulumi:stack::project::parentType$type::name`. */
function typeAndNameOfUrn(urn: string): string {
    const parts = urn.split("::");
    const name = parts.slice(3).join("::");
    const type = parts[2].split("$").pop()!;
    return `${type}::${name}`;
}

/** The resolved value of an Output (mocks never leave values unknown outside preview). */
function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) =>
        output.apply((v) => {
            resolve(v);
            return v;
        }),
    );
}
