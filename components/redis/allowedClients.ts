/**
 * `redis:allowedClients`: the other applications the Redis NetworkPolicy admits to the client port,
 * each a namespace and, optionally, a pod label selector (matchLabels). Pure: the config reader
 * validates with it, the manifests render the policy's peers from it.
 */
import { parse as parseYaml } from "yaml";

/** One admitted application: every pod of `namespace`, or those whose labels include `podLabels`. */
export interface AllowedClient {
    readonly namespace: string;
    readonly podLabels?: Readonly<Record<string, string>>;
}

export const ALLOWED_CLIENTS_HELP =
    'a JSON or YAML list of {namespace, podLabels}, e.g. [{"namespace":"shop","podLabels":{"app.kubernetes.io/name":"cart"}}]: namespace a DNS label; podLabels (optional) label keys ([prefix/]name, name at most 63 of letters, digits, "-", "_", ".") to values (at most 63 of the same, starting and ending alphanumeric, or empty)';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const LABEL_NAME = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^((?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Why `key` is not a Kubernetes label key, or undefined. */
function labelKeyProblem(key: string): string | undefined {
    const slash = key.lastIndexOf("/");
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if (prefix !== undefined && !DNS_SUBDOMAIN.test(prefix)) return `label key ${JSON.stringify(key)}: its prefix is not a DNS subdomain`;
    if (!LABEL_NAME.test(name)) return `label key ${JSON.stringify(key)} is not a valid label name`;
    return undefined;
}

function itemProblem(item: unknown, i: number): string | undefined {
    const at = `item ${i}`;
    if (typeof item !== "object" || item === null || Array.isArray(item)) return `${at} is not a mapping with namespace and podLabels`;
    const { namespace, podLabels, ...rest } = item as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length)
        return `${at} has unknown field${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")} (known: namespace, podLabels)`;
    if (typeof namespace !== "string" || !DNS_LABEL.test(namespace) || namespace.length > 63) {
        return `${at}: namespace ${JSON.stringify(namespace)} is not a namespace name (a DNS label)`;
    }
    if (podLabels === undefined) return undefined;
    if (typeof podLabels !== "object" || podLabels === null || Array.isArray(podLabels)) {
        return `${at}: podLabels is not a mapping of label keys to values`;
    }
    for (const [k, v] of Object.entries(podLabels)) {
        const keyProblem = labelKeyProblem(k);
        if (keyProblem) return `${at}: ${keyProblem}`;
        if (typeof v !== "string" || !LABEL_VALUE.test(v))
            return `${at}: label ${k}'s value ${JSON.stringify(v)} is not a valid label value`;
    }
    return undefined;
}

/** The config text as a list of admitted clients, or what is wrong with it. */
export function parseAllowedClients(text: string): { value: readonly AllowedClient[] } | { problem: string } {
    let doc: unknown;
    try {
        doc = parseYaml(text);
    } catch {
        return { problem: "not JSON or YAML" };
    }
    if (!Array.isArray(doc)) return { problem: "not a list" };
    for (const [i, item] of doc.entries()) {
        const problem = itemProblem(item, i);
        if (problem) return { problem };
    }
    return {
        value: (doc as { namespace: string; podLabels?: Record<string, string> }[]).map((c) =>
            c.podLabels ? { namespace: c.namespace, podLabels: { ...c.podLabels } } : { namespace: c.namespace },
        ),
    };
}
