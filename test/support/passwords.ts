/** Fixed, distinct passwords of every ACL user for tests that render manifests (never generated, so output is stable). */
import { ACL_USERS, AclUserName } from "../../components/redis/acl";

export const TEST_PASSWORDS: Readonly<Record<AclUserName, string>> = Object.fromEntries(
    ACL_USERS.map((u) => [u, `test-${u}-password-0123456789`]),
) as Record<AclUserName, string>;
