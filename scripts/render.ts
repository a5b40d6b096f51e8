/**
 * `npm run render -- --out DIR [--set redis:masters=5 ...]` writes the Kubernetes objects of the
 * stack as YAML (one file per object, numbered in apply order), for people who apply them with
 * kubectl or import them into Rancher, as in the tutorial. Same pure renderers as `pulumi up`.
 *
 * The Secret needs a real password: taken from $REDIS_PASSWORD when set, otherwise generated here
 * (crypto.randomBytes). The file headers say which.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { RawConfig, WorkloadSettings, parseWorkloadSettings } from "../components/config";
import { CLIENT_PORT, podCount, seedEndpoints } from "../components/shape";
import {
    REDIS_CONTAINER,
    podNaming,
    redisObjectNames,
    redisPodLabels,
    renderNamespace,
    renderRedisManifests,
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

export interface RenderOptions {
    readonly settings: WorkloadSettings;
    readonly password: string;
    /** Where the password came from, for the file headers. */
    readonly passwordSource: string;
    /** Bundled hit-counter server; required unless `app:image` is set. */
    readonly serverSource?: string;
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
    const redis = renderRedisManifests(redisOptions, o.password);
    const appOptions = {
        name: APP_NAME,
        namespace: settings.namespace,
        app: settings.app,
        redisSeeds: seedEndpoints(podNaming(redisOptions), redisOptions.redis),
        passwordSecretName: redisObjectNames(REDIS_NAME).secret,
        serverSource: o.serverSource ?? "",
        replicasPerMaster: settings.redis.replicasPerMaster,
    };
    if (runsBundledServer(settings.app) && !o.serverSource)
        throw new Error("serverSource: the bundled hit-counter server is required unless app:image is set");
    const objects: unknown[] = [
        renderNamespace(settings.namespace),
        redis.secret,
        redis.configMap,
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
        `    'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli --cluster create --cluster-replicas ${settings.redis.replicasPerMaster} --cluster-yes \\`,
        `     $(for h in ${hosts.join(" ")}; do echo "$(getent hosts $h | cut -d" " -f1):${CLIENT_PORT}"; done)'`,
        "",
        `(${podCount(settings.redis)} pods; redis-cli does not check which k8s node each pod runs on.)`,
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
        `# Password in the Secret: ${o.passwordSource}.`,
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

/** $REDIS_PASSWORD when set, else a fresh random one: never a placeholder in a Secret someone applies. */
export function renderPassword(env: Readonly<Record<string, string | undefined>>): { password: string; source: string } {
    const fromEnv = env.REDIS_PASSWORD;
    if (fromEnv) return { password: fromEnv, source: "taken from $REDIS_PASSWORD" };
    return {
        password: crypto.randomBytes(24).toString("base64url"),
        source: "generated randomly by this run (crypto.randomBytes, 32 URL-safe characters)",
    };
}

function main(argv: readonly string[]): void {
    const outIndex = argv.indexOf("--out");
    const outDir = outIndex >= 0 ? argv[outIndex + 1] : undefined;
    if (!outDir) {
        console.error("usage: npm run render -- --out DIR [--set redis:masters=5 ...]   (password: $REDIS_PASSWORD or generated)");
        process.exit(2);
    }
    const settings = parseWorkloadSettings(parseSetFlags(argv));
    const { password, source } = renderPassword(process.env);
    const files = writeRendered(outDir, {
        settings,
        password,
        passwordSource: source,
        serverSource: runsBundledServer(settings.app) ? bundleServer() : undefined,
    });
    console.log(`wrote ${files.length} files to ${outDir} (password ${source}); see FORMING.txt`);
}

if (require.main === module) {
    try {
        main(process.argv.slice(2));
    } catch (err) {
        console.error(err instanceof Error ? err.message : String(err));
        process.exit(1);
    }
}
