/**
 * `npm run render -- --out DIR [--set redis:masters=5 ...]` writes the Kubernetes objects of the
 * stack as YAML (one file per object, numbered in apply order), for people who apply them with
 * kubectl or import them into Rancher, as in the tutorial. Same pure renderers as `pulumi up`.
 *
 * The users Secret needs real passwords: each user's from `--set redis:<user>Password=…` when given,
 * otherwise generated here (crypto.randomBytes). The file headers say which. With TLS (the default) the TLS Secret needs real
 * certificates too: a server certificate issued here (lib/x509.ts) by the CA of `redis:tlsCaCertificate`
 * when set, else by a new CA, with the names and validity `pulumi up` gives them. Renewing them is then
 * the kubectl user's job: render again before the server certificate's year is over.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { RawConfig, WorkloadSettings, parseWorkloadSettings } from "../components/config";
import { CLIENT_PORT, podCount, seedEndpoints } from "../components/shape";
import {
    REDIS_CONTAINER,
    TlsMaterial,
    podNaming,
    redisObjectNames,
    redisPodLabels,
    renderNamespace,
    renderRedisManifests,
    surgePodName,
    userSecretName,
} from "../components/redis/manifests";
import { renderAppNetworkPolicy } from "../components/app/networkPolicy";
import {
    renderAppPodDisruptionBudget,
    renderAppService,
    renderDeployment,
    renderServerConfigMap,
    hitCounterPodLabels,
    runsBundledServer,
} from "../components/app/hitCounter";
import { bundleServer } from "../components/app/bundle";
import { APP_NAME, REDIS_NAME } from "../components/stack";
import { REDIS_CLI_HELPER } from "../components/redis/paths";
import { ACL_USERS, APP_USER, AclUserName } from "../components/redis/acl";
import {
    CA_COMMON_NAME,
    CA_VALIDITY_HOURS,
    SERVER_CERTIFICATE_USES,
    SERVER_COMMON_NAME,
    SERVER_VALIDITY_HOURS,
    serverCertificateNames,
    tlsDigest,
} from "../components/redis/tls";
import { KeyPair, newCertificateAuthority, newSignedCertificate } from "../lib/x509";

export interface RenderOptions {
    readonly settings: WorkloadSettings;
    /** Every ACL user's password. */
    readonly passwords: Readonly<Record<AclUserName, string>>;
    /** Where the passwords came from, for the file headers. */
    readonly passwordSource: string;
    /** Bundled hit-counter server; required unless `app:image` is set. */
    readonly serverSource?: string;
    /** With TLS: the certificates (renderCertificates), required exactly when `redis:tls` is on. */
    readonly tls?: TlsMaterial;
}

/** A rendered object: file name and plain Kubernetes object. */
export interface RenderedFile {
    readonly file: string;
    readonly object: { apiVersion: string; kind: string; metadata: { name: string } } & Record<string, unknown>;
}

/** All objects in apply order. Pure given its inputs. */
export function renderObjects(o: RenderOptions): RenderedFile[] {
    const { settings } = o;
    const redisOptions = {
        name: REDIS_NAME,
        namespace: settings.namespace,
        redis: settings.redis,
        clientPodLabels: hitCounterPodLabels(APP_NAME),
    };
    const redis = renderRedisManifests(redisOptions, o.passwords, o.tls);
    const appOptions = {
        name: APP_NAME,
        namespace: settings.namespace,
        app: settings.app,
        redisSeeds: seedEndpoints(podNaming(redisOptions), redisOptions.redis),
        userSecretName: userSecretName(REDIS_NAME, APP_USER),
        serverSource: o.serverSource ?? "",
        replicasPerMaster: settings.redis.replicasPerMaster,
        ...(o.tls
            ? { redisTls: { caConfigMapName: redisObjectNames(REDIS_NAME).caConfigMap, caDigest: tlsDigest(String(o.tls.caPem)) } }
            : {}),
    };
    if (runsBundledServer(settings.app) && !o.serverSource)
        throw new Error("serverSource: the bundled hit-counter server is required unless app:image is set");
    const objects: unknown[] = [
        renderNamespace(settings.namespace),
        redis.usersSecret,
        ...Object.values(redis.userSecrets),
        ...(redis.tlsSecret ? [redis.tlsSecret] : []),
        redis.configMap,
        ...(redis.caConfigMap ? [redis.caConfigMap] : []),
        redis.headlessService,
        redis.clientService,
        redis.statefulSet,
        redis.podDisruptionBudget,
        redis.networkPolicy,
        ...Object.values(redis.formationRbac),
        ...(redis.podMonitoring ? [redis.podMonitoring] : []),
        ...(runsBundledServer(settings.app) ? [renderServerConfigMap(appOptions)] : []),
        renderDeployment(appOptions),
        renderAppService(appOptions),
        renderAppNetworkPolicy({
            name: APP_NAME,
            namespace: settings.namespace,
            appPodLabels: hitCounterPodLabels(APP_NAME),
            redisPodLabels: redisPodLabels(REDIS_NAME),
            metricsNamespaces: settings.redis.metricsNamespaces,
        }),
        renderAppPodDisruptionBudget(appOptions),
    ];
    return objects.map((value, i) => {
        const object = value as RenderedFile["object"];
        const file = `${String(i).padStart(2, "0")}-${object.kind.toLowerCase()}-${object.metadata.name}.yaml`;
        return { file, object };
    });
}

/** Why the surge pod is not among the pods formed, if there is one. */
function surgeNote(settings: WorkloadSettings): string {
    const surge = surgePodName({ name: REDIS_NAME, redis: settings.redis });
    return surge ? `, not ${surge}: the surge pod stays out of the cluster until a stopping pod recruits it` : "";
}

/** Formation instructions for kubectl users: Pulumi does this step itself. */
export function formationNote(settings: WorkloadSettings): string {
    const names = redisObjectNames(REDIS_NAME);
    // redis-cli --cluster create wants addresses; the pods resolve each other's stable names.
    const hosts = seedEndpoints(podNaming({ name: REDIS_NAME, namespace: settings.namespace }), settings.redis).map(
        (seed) => seed.split(":")[0],
    );
    return [
        "These files create the Redis pods but do not form the cluster (with `pulumi up` the",
        "RedisClusterFormation resource does that, pairing masters and replicas across nodes and zones).",
        "After `kubectl apply -f .` and all pods are Ready, form it once from any pod:",
        "",
        `  kubectl -n ${settings.namespace} exec ${names.statefulSet}-0 -c ${REDIS_CONTAINER} -- sh -c \\`,
        `    '. ${REDIS_CLI_HELPER}; rcli --cluster create --cluster-replicas ${settings.redis.replicasPerMaster} --cluster-yes \\`,
        `     $(for h in ${hosts.join(" ")}; do echo "$(getent hosts $h | cut -d" " -f1):${CLIENT_PORT}"; done)'`,
        "",
        `(${podCount(settings.redis)} pods${surgeNote(settings)}; redis-cli does not check which k8s node each pod runs on. ${REDIS_CLI_HELPER}`,
        "connects as the probes do: to the pod's own Redis, with TLS when it is on, as the admin user with its password from the pod's users Secret.)",
        "",
    ].join("\n");
}

/** Parses `--set key=value` pairs into raw config. */
export function parseSetFlags(args: readonly string[]): RawConfig {
    const raw: Record<string, string> = {};
    for (let i = 0; i < args.length; i++) {
        if (args[i] !== "--set") continue;
        const pair = args[++i] ?? "";
        const eq = pair.indexOf("=");
        if (eq <= 0) throw new Error(`--set: expected namespace:key=value, got ${JSON.stringify(pair)}`);
        raw[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    return raw;
}

/** Writes the files; returns their paths. */
export function writeRendered(outDir: string, o: RenderOptions): string[] {
    fs.mkdirSync(outDir, { recursive: true });
    const header = [
        "# Rendered by `npm run render` (redis-cluster-gke) from the same code `pulumi up` runs.",
        `# Passwords in the users Secret: ${o.passwordSource}.`,
        ...(o.tls ? [`# Certificates in the TLS Secret: ${certificateSource(o.settings)}.`] : []),
        "",
    ].join("\n");
    const written = renderObjects(o).map(({ file, object }) => {
        const p = path.join(outDir, file);
        fs.writeFileSync(p, header + YAML.stringify(object, { lineWidth: 0, aliasDuplicateObjects: false }), { mode: 0o600 });
        return p;
    });
    const note = path.join(outDir, "FORMING.txt");
    fs.writeFileSync(note, formationNote(o.settings));
    return [...written, note];
}

/** Each user's password from `--set redis:<user>Password=…`, else a fresh random one: never a placeholder in a Secret someone applies. */
export function renderPasswords(settings: WorkloadSettings): { passwords: Record<AclUserName, string>; source: string } {
    const given = ACL_USERS.filter((u) => settings.redis.passwords[u] !== undefined);
    const passwords = Object.fromEntries(
        ACL_USERS.map((u) => [u, settings.redis.passwords[u] ?? crypto.randomBytes(24).toString("base64url")]),
    ) as Record<AclUserName, string>;
    const generated = "generated randomly by this run (crypto.randomBytes, 32 URL-safe characters)";
    return { passwords, source: given.length ? `${given.join(", ")} from --set, the others ${generated}` : generated };
}

function certificateSource(settings: WorkloadSettings): string {
    const days = SERVER_VALIDITY_HOURS / 24;
    return settings.redis.tlsCa
        ? `a server certificate issued by this run with redis:tlsCaCertificate's CA, valid ${days} days`
        : `a new CA (in the CA ConfigMap) and a server certificate issued by this run, valid ${days} days`;
}

/** The TLS Secret's certificates, as `pulumi up` issues them: the user's CA, or a new one. */
export function renderCertificates(settings: WorkloadSettings): TlsMaterial {
    const ca: KeyPair = settings.redis.tlsCa
        ? { certPem: settings.redis.tlsCa.certificatePem, keyPem: settings.redis.tlsCa.keyPem }
        : newCertificateAuthority(CA_COMMON_NAME, CA_VALIDITY_HOURS / 24);
    const names = redisObjectNames(REDIS_NAME);
    const sans = serverCertificateNames({
        headlessService: names.headlessService,
        clientService: names.clientService,
        namespace: settings.namespace,
    });
    const server = newSignedCertificate(
        ca,
        { commonName: SERVER_COMMON_NAME, ...sans, uses: [...SERVER_CERTIFICATE_USES] },
        SERVER_VALIDITY_HOURS / 24,
    );
    return { certificatePem: server.certPem, keyPem: server.keyPem, caPem: ca.certPem, digest: tlsDigest(ca.certPem, server.certPem) };
}

function main(argv: readonly string[]): void {
    const outIndex = argv.indexOf("--out");
    const outDir = outIndex >= 0 ? argv[outIndex + 1] : undefined;
    if (!outDir) {
        console.error(
            "usage: npm run render -- --out DIR [--set redis:masters=5 ...]   (passwords: --set redis:<user>Password=… or generated)",
        );
        process.exit(2);
    }
    const settings = parseWorkloadSettings(parseSetFlags(argv));
    const { passwords, source } = renderPasswords(settings);
    const files = writeRendered(outDir, {
        settings,
        passwords,
        passwordSource: source,
        serverSource: runsBundledServer(settings.app) ? bundleServer() : undefined,
        tls: settings.redis.tls ? renderCertificates(settings) : undefined,
    });
    console.log(`wrote ${files.length} files to ${outDir} (passwords ${source}); see FORMING.txt`);
}

if (require.main === module) {
    try {
        main(process.argv.slice(2));
    } catch (err) {
        console.error(err instanceof Error ? err.message : String(err));
        process.exit(1);
    }
}
