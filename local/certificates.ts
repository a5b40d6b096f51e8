/**
 * Certificates of local clusters, issued here (lib/x509.ts) as the stack issues them with
 * @pulumi/tls: a CA, and one server certificate for every node with the uses the stack gives it.
 * Locally clients dial addresses, not the pods' DNS names (nothing outside the runtime resolves
 * those), so the certificate also names every address a pod of the cluster can have.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { CA_COMMON_NAME, SERVER_CERTIFICATE_USES, SERVER_COMMON_NAME, TLS_FILES } from "../components/redis/tls";
import { TlsFiles } from "../components/redis/redisConf";
import { KeyPair, newCertificateAuthority, newSignedCertificate } from "../lib/x509";

/** One year, as the stack's server certificate; a local CA lives as long (both are made again together). */
export const LOCAL_VALIDITY_DAYS = 365;
/** A local cluster started within this many days of its certificate's end gets new certificates. */
const RENEW_WITHIN_DAYS = 30;

/** The TLS Secret's data (tls.crt, tls.key, ca.crt). */
export type TlsSecretData = Record<string, string>;

/** A new CA and a server certificate for `dnsNames` and `ipAddresses`, as the TLS Secret's data. */
export function newLocalTlsSecret(dnsNames: readonly string[], ipAddresses: readonly string[]): TlsSecretData {
    const ca = newCertificateAuthority(`${CA_COMMON_NAME} (local)`, LOCAL_VALIDITY_DAYS);
    const server: KeyPair = newSignedCertificate(
        ca,
        { commonName: SERVER_COMMON_NAME, dnsNames, ipAddresses, uses: [...SERVER_CERTIFICATE_USES] },
        LOCAL_VALIDITY_DAYS,
    );
    return { [TLS_FILES.certificate]: server.certPem, [TLS_FILES.key]: server.keyPem, [TLS_FILES.ca]: ca.certPem };
}

/** Whether a TLS Secret kept in DIR still serves: all three files, and the certificate valid beyond the renewal margin. */
export function tlsSecretUsable(data: TlsSecretData | undefined, now = new Date()): data is TlsSecretData {
    if (!data || !Object.values(TLS_FILES).every((f) => typeof data[f] === "string")) return false;
    try {
        const notAfter = new Date(new crypto.X509Certificate(data[TLS_FILES.certificate]).validTo);
        return notAfter.getTime() - now.getTime() > RENEW_WITHIN_DAYS * 86_400_000;
    } catch {
        return false;
    }
}

/** Writes the Secret's files into `dir` (0600, as a bare node reads them) and says where they are. */
export function writeTlsFiles(dir: string, data: TlsSecretData): TlsFiles {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = (name: string) => {
        const p = path.join(dir, name);
        fs.writeFileSync(p, data[name], { mode: 0o600 });
        return p;
    };
    return { certFile: file(TLS_FILES.certificate), keyFile: file(TLS_FILES.key), caFile: file(TLS_FILES.ca) };
}
