/** Certificates for tests, issued by lib/x509.ts (no openssl, no network): a CA and a server certificate. */
import * as fs from "fs";
import * as path from "path";
import { TlsMaterial } from "../../components/redis/manifests";
import { TlsFiles } from "../../components/redis/redisConf";
import { serverCertificateNames, tlsDigest } from "../../components/redis/tls";
import { newLocalTlsSecret, writeTlsFiles } from "../../local/certificates";
import { TLS_FILES } from "../../components/redis/tls";

/** The TLS Secret's data for a cluster named `redis` in namespace `redis`, plus `ipAddresses`. */
export function testTlsSecret(ipAddresses: readonly string[] = []): Record<string, string> {
    const names = serverCertificateNames({ headlessService: "redis-headless", clientService: "redis", namespace: "redis" });
    return newLocalTlsSecret(names.dnsNames, [...names.ipAddresses, ...ipAddresses]);
}

let shared: TlsMaterial | undefined;

/** One TlsMaterial for the manifests tests (issued once per process). */
export function testTlsMaterial(): TlsMaterial & { readonly caPem: string; readonly certificatePem: string } {
    const data = testTlsSecret();
    shared ??= {
        certificatePem: data[TLS_FILES.certificate],
        keyPem: data[TLS_FILES.key],
        caPem: data[TLS_FILES.ca],
        digest: tlsDigest(data[TLS_FILES.ca], data[TLS_FILES.certificate]),
    };
    return shared as TlsMaterial & { readonly caPem: string; readonly certificatePem: string };
}

/** Certificate files for bare redis-server nodes on `ipAddresses`, in `dir`/tls. */
export function testTlsFiles(dir: string, ipAddresses: readonly string[]): TlsFiles {
    return writeTlsFiles(path.join(dir, "tls"), testTlsSecret(ipAddresses));
}

/** The CA of files written by testTlsFiles. */
export function caOf(files: TlsFiles): string {
    return fs.readFileSync(files.caFile, "utf8");
}
