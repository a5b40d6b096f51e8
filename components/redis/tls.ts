/**
 * The TLS facts of the Redis pods, Pulumi-free and pure: which names the server certificate carries,
 * how long certificates live and when `pulumi up` renews them, the files of the TLS Secret, and the
 * checks a CA given in stack config must pass. The stack (certificates.ts, @pulumi/tls), the local
 * runtime and `npm run render` (lib/x509.ts) all issue the certificate these functions describe.
 */
import * as crypto from "crypto";
import { DEFAULT_CLUSTER_DOMAIN } from "../shape";

/** Keys of the TLS Secret (the kubernetes.io/tls layout, with the CA beside them) and of the CA ConfigMap. */
export const TLS_FILES = { certificate: "tls.crt", key: "tls.key", ca: "ca.crt" } as const;

/**
 * Validity of the stack's own CA: ten years, renewed by the first `pulumi up` in its last year. A
 * renewed CA keeps its key and subject, so certificates signed by the old one still verify against
 * the new one (and the other way round) while the pods roll onto it.
 */
export const CA_VALIDITY_HOURS = 10 * 365 * 24;
export const CA_EARLY_RENEWAL_HOURS = 365 * 24;
/**
 * Validity of the server certificate: one year, renewed by the first `pulumi up` in its last 90
 * days (@pulumi/tls's early renewal replaces it then; the new Secret's digest rolls the pods).
 * A stack nobody updates for 9 months keeps a working certificate; one left alone for a year does
 * not: `redisTlsNotAfter` is the date to watch.
 */
export const SERVER_VALIDITY_HOURS = 365 * 24;
export const SERVER_EARLY_RENEWAL_HOURS = 90 * 24;

/** The server certificate's subject common name (clients verify the SANs, not this). */
export const SERVER_COMMON_NAME = "redis-cluster-gke redis";
export const CA_COMMON_NAME = "redis-cluster-gke CA";

/**
 * One server certificate for every pod: DNS names, as clients verify them.
 *  - `*.<headless>.<ns>.svc.<domain>`: every pod's stable name, which Redis announces
 *    (`cluster-preferred-endpoint-type hostname`) and clients dial. A wildcard, not one certificate
 *    per pod: a StatefulSet's pod template mounts the same Secret in every pod, so per-pod keys would
 *    all sit in every pod anyway; and pods added by a scale-out need no new certificate (no roll).
 *  - the client Service in its four spellings (`redis`, `redis.<ns>`, `.svc`, the FQDN): other
 *    applications' seed;
 *  - `localhost` and 127.0.0.1: the exporter sidecar dials its own pod there, and verifies it.
 * Peers on the cluster bus and replicas dial IPs, and Redis checks their chain, not their name.
 */
export function serverCertificateNames(o: {
    readonly headlessService: string;
    readonly clientService: string;
    readonly namespace: string;
    readonly clusterDomain?: string;
}): { dnsNames: string[]; ipAddresses: string[] } {
    const domain = o.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
    const svc = `${o.clientService}.${o.namespace}.svc`;
    return {
        dnsNames: [
            `*.${o.headlessService}.${o.namespace}.svc.${domain}`,
            `${svc}.${domain}`,
            svc,
            `${o.clientService}.${o.namespace}`,
            o.clientService,
            "localhost",
        ],
        ipAddresses: ["127.0.0.1"],
    };
}

/**
 * Uses of the server certificate: a server to clients, and a client to its peers too (Redis
 * presents it on the cluster bus, which always requires a client certificate, and when a replica
 * connects to its master).
 */
export const SERVER_CERTIFICATE_USES = ["digital_signature", "server_auth", "client_auth"] as const;
export const CA_CERTIFICATE_USES = ["cert_signing", "crl_signing"] as const;

/** The digest that rolls the pods when a certificate changes (pod template annotation). */
export function tlsDigest(...pems: readonly string[]): string {
    const hash = crypto.createHash("sha256");
    for (const pem of pems) hash.update(`${pem}\0`);
    return hash.digest("hex");
}

// ---------------------------------------------------------------- a CA given in stack config

/** Why a PEM certificate cannot be the stack's CA, or undefined when it can. `now` for tests. */
export function caCertificateProblem(pem: string, now: Date = new Date()): string | undefined {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;
    if (blocks !== 1)
        return blocks === 0
            ? "not a PEM certificate (expected one -----BEGIN CERTIFICATE----- block)"
            : `${blocks} certificates; give exactly one, the CA that signs the server certificate`;
    let cert: crypto.X509Certificate;
    try {
        cert = new crypto.X509Certificate(pem);
    } catch (e) {
        return `not a parseable certificate (${(e as Error).message})`;
    }
    if (!cert.ca)
        return `${cert.subject.replace(/\n/g, ", ")} is not a CA (its basicConstraints do not say CA:TRUE); give a CA certificate`;
    const notAfter = new Date(cert.validTo);
    if (notAfter <= now) return `expired on ${notAfter.toISOString()}; renew the CA`;
    if (new Date(cert.validFrom) > now) return `not valid before ${new Date(cert.validFrom).toISOString()}`;
    const serverUntil = new Date(now.getTime() + SERVER_VALIDITY_HOURS * 3_600_000);
    if (notAfter < serverUntil)
        return `expires on ${notAfter.toISOString()}, before the ${SERVER_VALIDITY_HOURS / 24}-day server certificate it would sign; renew the CA first`;
    if (!cert.checkIssued(cert)) return "not self-signed: an intermediate CA needs its chain, which is not supported; give a root CA";
    return undefined;
}

/** Why a PEM private key cannot be used by @pulumi/tls to sign, or undefined. */
export function caKeyProblem(pem: string): string | undefined {
    if (!/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(pem))
        return "not a PEM private key (expected a -----BEGIN PRIVATE KEY----- block)";
    if (pem.includes("ENCRYPTED")) return "an encrypted key; give it without a passphrase (the value is stored as a Pulumi secret)";
    try {
        const key = crypto.createPrivateKey(pem);
        if (!["rsa", "ec", "ed25519"].includes(key.asymmetricKeyType ?? ""))
            return `a ${key.asymmetricKeyType} key; use an RSA, ECDSA or Ed25519 key`;
    } catch (e) {
        return `not a parseable private key (${(e as Error).message})`;
    }
    return undefined;
}

/** Whether `keyPem` is the private key of the certificate `certPem` (both already valid). */
export function keyMatchesCertificate(certPem: string, keyPem: string): boolean {
    return new crypto.X509Certificate(certPem).checkPrivateKey(crypto.createPrivateKey(keyPem));
}
