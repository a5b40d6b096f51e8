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
/** The secret-free ACL template (ConfigMap `users.acl`) the start script turns into the node's aclfile. */
export const ACL_TEMPLATE_PATH = "/conf/users.acl";
/** A client user's own Secret in the app (`password`), re-read when the kubelet updates it. */
export const USER_SECRET_MOUNT = "/redis-user";
