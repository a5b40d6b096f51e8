/**
 * Where things are mounted in the Redis pods: the one source for the manifests, the formation's exec
 * (which sources the redis-cli helper in the pod) and the clients. Pulumi-free.
 */

/** The ConfigMap's scripts (node-start.sh, probe.sh, rediscli.sh). */
export const SCRIPTS_MOUNT = "/scripts";
/** The helper every in-pod script sources to reach its own Redis (components/redis/rediscli.sh). */
export const REDIS_CLI_HELPER = `${SCRIPTS_MOUNT}/rediscli.sh`;
/** The TLS Secret in the Redis container (REDIS_TLS_DIR), and its volume's name in the pod template. */
export const TLS_MOUNT = "/tls";
export const TLS_VOLUME = "tls";
/** The CA certificate alone, in the exporter and the app. */
export const CA_MOUNT = "/tls-ca";
/** Every user's password (the users Secret), one file a user, in the Redis container (REDIS_USERS_DIR). */
export const USERS_MOUNT = "/users";
export const USERS_VOLUME = "users";
/** The pod's small in-memory volume (emptyDir `run`): the node's runtime redis.conf, the election hold. */
export const RUN_MOUNT = "/run/redis";
export const RUN_VOLUME = "run";
export const RUNTIME_CONF_PATH = `${RUN_MOUNT}/redis.conf`;
/**
 * While the failover agent holds its node's automatic election (election.sh), the hold's start in ms;
 * the Redis container's liveness probe (probe.sh) releases a hold whose agent is gone.
 */
export const ELECTION_HOLD_FILE = `${RUN_MOUNT}/election-hold`;
export const ELECTION_HOLD_ENV = "ELECTION_HOLD_FILE";
/** The ConfigMap's configuration files (redis.conf, users.acl, surge-pod), read-only in the pod. */
export const CONF_MOUNT = "/conf";
/** The secret-free ACL template (ConfigMap `users.acl`) the start script turns into the node's aclfile. */
export const ACL_TEMPLATE_PATH = `${CONF_MOUNT}/users.acl`;
/**
 * The surge pod's name (issue 15, components/shape.ts surgeOrdinal), e.g. `redis-6`, or empty when the
 * StatefulSet has no surge pod: the ConfigMap key, its file in the pod and the env var naming that file
 * for the in-pod scripts (handover.sh recruits the surge pod, failover-agent.sh retires it). The key is
 * left out of the pod template's config digest (manifests.ts configDigest): it changes with the shape,
 * and a shape change must not roll every pod. It need not: the kubelet updates a mounted ConfigMap's
 * files in running pods (within about a minute), and the scripts read the file each time they need it.
 */
export const SURGE_POD_KEY = "surge-pod";
export const SURGE_POD_FILE = `${CONF_MOUNT}/${SURGE_POD_KEY}`;
export const SURGE_FILE_ENV = "REDIS_SURGE_FILE";
/** A client user's own Secret in the app (`password`), re-read when the kubelet updates it. */
export const USER_SECRET_MOUNT = "/redis-user";
