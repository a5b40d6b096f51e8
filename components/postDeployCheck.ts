/**
 * The post-deploy check: after the formation and the app, a shell script run on the machine that
 * runs Pulumi (a @pulumi/command `local.Command`) checks what was deployed, through kubectl:
 *  - `redis-cli --cluster check` in a Redis pod (the exec the formation uses, so it connects as every
 *    in-pod client does): every slot covered, no open slot, nodes agreeing, and the shape as
 *    configured (masters, replicas of each);
 *  - the app through the API server's Service proxy: two GET / whose counts must increase.
 * Its output shows in `pulumi up`; a non-zero exit fails the update. The script is a pure function of
 * the target, so tests run the exact text `pulumi up` runs. Pulumi-free.
 */
import { buildExecCommand } from "./formation/kubernetesTransport";
import { KEYS } from "./configKeys";
import { CLIENT_PORT, SLOT_COUNT } from "./shape";

/** The environment variable that carries the kubeconfig's content (a secret) into the script. */
export const CHECK_KUBECONFIG_ENV = "REDIS_CHECK_KUBECONFIG";

/**
 * What the kubeconfig's user needs in the namespace (a Role's rules): kubectl reads the pod, then
 * execs into it; the app is asked through the Service proxy. An admin kubeconfig has all of it.
 */
export const POST_DEPLOY_CHECK_RULES: readonly { apiGroups: string[]; resources: string[]; verbs: string[] }[] = [
    { apiGroups: [""], resources: ["pods"], verbs: ["get"] },
    { apiGroups: [""], resources: ["pods/exec"], verbs: ["create", "get"] },
    { apiGroups: [""], resources: ["services/proxy"], verbs: ["get"] },
];

/** What the check looks at. */
export interface PostDeployCheckTarget {
    readonly namespace: string;
    /** The pod the check execs into (any member; the StatefulSet's first). */
    readonly redisPod: string;
    readonly redisContainer: string;
    readonly masters: number;
    readonly replicasPerMaster: number;
    /** The app's Service and port name, or undefined when the app runs no replica (nothing to ask). */
    readonly app?: { readonly service: string; readonly port: string };
    /** Attempts of the app's first answer, 2 s apart (a just-rolled Deployment may still warm up). */
    readonly appAttempts?: number;
    readonly redisPort?: number;
}

/** `text` as one POSIX shell word. */
export function shellWord(text: string): string {
    return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'"'"'`)}'`;
}

const words = (args: readonly string[]) => args.map(shellWord).join(" ");

/** The Redis half: `redis-cli --cluster check` in the pod, then its report read for the shape. */
function redisCheckLines(t: PostDeployCheckTarget): string[] {
    const port = t.redisPort ?? CLIENT_PORT;
    const inPod = buildExecCommand(["--cluster", "check", `127.0.0.1:${port}`], port);
    const exec = ["kubectl", "exec", "-n", t.namespace, t.redisPod, "-c", t.redisContainer, "--", ...inPod];
    const where = `${t.namespace}/${t.redisPod}`;
    return [
        `echo ${shellWord(`post-deploy check: redis-cli --cluster check in ${where}`)}`,
        // redis-cli colours its report when TERM says the terminal can: the colours go before it is read.
        `raw=$(${words(exec)} 2>&1) && exited=0 || exited=$?`,
        `report=$(printf '%s\\n' "$raw" | sed "s/$(printf '\\033')\\[[0-9;]*m//g")`,
        `[ "$exited" -eq 0 ] || { printf '%s\\n' "$report"; fail "redis-cli --cluster check in ${where} exited $exited"; }`,
        `printf '%s\\n' "$report"`,
        `printf '%s\\n' "$report" | grep -q '^\\[OK\\] All ${SLOT_COUNT} slots covered' || fail 'not every slot is served'`,
        `if printf '%s\\n' "$report" | grep -qE '^\\[(ERR|WARNING)\\]'; then fail 'redis-cli --cluster check reports a problem (above)'; fi`,
        // The per-master summary: "<addr> (<id>...) -> <n> keys | <n> slots | <n> slaves."
        `masters=$(printf '%s\\n' "$report" | grep -c ' keys | [0-9]* slots | [0-9]* slaves\\.$' || true)`,
        `[ "$masters" -eq ${t.masters} ] || fail "expected ${t.masters} masters, the cluster has $masters"`,
        `short=$(printf '%s\\n' "$report" | grep ' slots | [0-9]* slaves\\.$' | grep -vc ' | ${t.replicasPerMaster} slaves\\.$' || true)`,
        `[ "$short" -eq 0 ] || fail "expected ${t.replicasPerMaster} replica(s) of every master; $short master(s) have another count"`,
        `echo ${shellWord(`post-deploy check: Redis Cluster ok (${t.masters} masters, ${t.replicasPerMaster} replica(s) each)`)}`,
    ];
}

/** The app half: GET / twice through the API server's Service proxy; the second count must be higher. */
function appCheckLines(t: PostDeployCheckTarget, app: NonNullable<PostDeployCheckTarget["app"]>): string[] {
    const proxy = `/api/v1/namespaces/${t.namespace}/services/http:${app.service}:${app.port}/proxy/`;
    const get = words(["kubectl", "get", "--raw", proxy]);
    const attempts = t.appAttempts ?? 15;
    return [
        `echo ${shellWord(`post-deploy check: GET / of the app twice through ${proxy}`)}`,
        // The answer is {"hits":N} (JSON, as kubectl asks for it) or "I have been hit N times…".
        `count() { ${get} 2>&1 | sed -n -e 's/.*"hits":\\([0-9][0-9]*\\).*/\\1/p' -e 's/.*hit \\([0-9][0-9]*\\) times.*/\\1/p'; }`,
        `first=; i=0`,
        `while [ -z "$first" ]; do`,
        `  i=$((i + 1)); first=$(count)`,
        `  if [ -z "$first" ]; then`,
        `    [ "$i" -lt ${attempts} ] || { ${get} || true; fail 'the app did not answer GET / with a count'; }`,
        `    echo "post-deploy check: the app has no count yet (attempt $i of ${attempts}); again in 2 s"; sleep 2`,
        `  fi`,
        `done`,
        `second=$(count)`,
        `[ -n "$second" ] || fail 'the app answered once, then not with a count'`,
        `[ "$second" -gt "$first" ] || fail "the app's count did not increase: $first, then $second"`,
        `echo "post-deploy check: app ok (count $first, then $second)"`,
    ];
}

/**
 * The script (POSIX sh). It needs kubectl on PATH and reads the kubeconfig's content from
 * CHECK_KUBECONFIG_ENV (written to a private temporary file, removed on exit).
 */
export function postDeployCheckScript(t: PostDeployCheckTarget): string {
    const lines = [
        "set -eu",
        `fail() { echo "post-deploy check FAILED: $*" >&2; exit 1; }`,
        `command -v kubectl >/dev/null 2>&1 || fail ${shellWord(`kubectl is not on PATH: install it, or turn the check off (pulumi config set ${KEYS.postDeployCheck.key} false)`)}`,
        `kc=$(mktemp); trap 'rm -f "$kc"' EXIT`,
        `printf '%s\\n' "$${CHECK_KUBECONFIG_ENV}" >"$kc"; export KUBECONFIG="$kc"`,
        ...redisCheckLines(t),
        ...(t.app ? appCheckLines(t, t.app) : [`echo 'post-deploy check: the app runs no replica; not asked'`]),
    ];
    return lines.join("\n") + "\n";
}
