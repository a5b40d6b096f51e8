/**
 * RedisCertificates: the CA and the server certificate of a TLS cluster, from @pulumi/tls (keys,
 * certificates and their renewal live in the Pulumi state; nothing runs in the cluster). The CA is
 * the stack's own (ECDSA P-256, ten years) unless the user gives one in stack config; the server
 * certificate (one year) names what components/redis/tls.ts says. Both are renewed by the first
 * `pulumi up` inside their early-renewal window: the provider then plans a replacement, the TLS
 * Secret changes, and its digest in the pod template rolls the pods one at a time.
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { UserCa } from "../config";
import { TlsMaterial } from "./manifests";
import {
    CA_CERTIFICATE_USES,
    CA_COMMON_NAME,
    CA_EARLY_RENEWAL_HOURS,
    CA_VALIDITY_HOURS,
    SERVER_CERTIFICATE_USES,
    SERVER_COMMON_NAME,
    SERVER_EARLY_RENEWAL_HOURS,
    SERVER_VALIDITY_HOURS,
    tlsDigest,
} from "./tls";

export interface RedisCertificatesArgs {
    /** DNS subject alternative names of the server certificate (serverCertificateNames). */
    readonly dnsNames: readonly string[];
    readonly ipAddresses: readonly string[];
    /** The user's CA (stack config, secret); absent: the stack creates its own. */
    readonly userCa?: UserCa;
}

const ORGANIZATION = "redis-cluster-gke";

/** ECDSA P-256: short keys, fast handshakes, and what every TLS library of the clients speaks. */
const KEY = { algorithm: "ECDSA", ecdsaCurve: "P256" } as const;

export class RedisCertificates extends pulumi.ComponentResource {
    /** The CA certificate clients trust. */
    public readonly caPem: pulumi.Output<string>;
    /** What the TLS Secret holds, and the digest that rolls the pods. */
    public readonly material: TlsMaterial;
    /** When the server certificate expires (RFC 3339): `pulumi up` renews it in its last 90 days. */
    public readonly notAfter: pulumi.Output<string>;

    constructor(name: string, args: RedisCertificatesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("redis-cluster-gke:redis:RedisCertificates", name, {}, opts);
        const child = { parent: this };
        const ca = args.userCa
            ? { certPem: pulumi.output(args.userCa.certificatePem), keyPem: pulumi.secret(args.userCa.keyPem) }
            : this.ownCa(name, child);
        const serverKey = new tls.PrivateKey(`${name}-server-key`, KEY, child);
        const request = new tls.CertRequest(
            `${name}-server-request`,
            {
                privateKeyPem: serverKey.privateKeyPem,
                subject: { commonName: SERVER_COMMON_NAME, organization: ORGANIZATION },
                dnsNames: [...args.dnsNames],
                ipAddresses: [...args.ipAddresses],
            },
            child,
        );
        const certificate = new tls.LocallySignedCert(
            `${name}-server-cert`,
            {
                certRequestPem: request.certRequestPem,
                caCertPem: ca.certPem,
                caPrivateKeyPem: ca.keyPem,
                validityPeriodHours: SERVER_VALIDITY_HOURS,
                earlyRenewalHours: SERVER_EARLY_RENEWAL_HOURS,
                allowedUses: [...SERVER_CERTIFICATE_USES],
                setSubjectKeyId: true,
            },
            child,
        );
        this.caPem = ca.certPem;
        this.notAfter = certificate.validityEndTime;
        this.material = {
            certificatePem: certificate.certPem,
            keyPem: pulumi.secret(serverKey.privateKeyPem),
            caPem: ca.certPem,
            digest: pulumi.all([ca.certPem, certificate.certPem]).apply(([caPem, certPem]) => tlsDigest(caPem, certPem)),
        };
        this.registerOutputs({ caPem: this.caPem, notAfter: this.notAfter });
    }

    /** The stack's own CA: renewed with the same key and subject, so both generations verify each other's certificates. */
    private ownCa(name: string, child: pulumi.CustomResourceOptions): { certPem: pulumi.Output<string>; keyPem: pulumi.Output<string> } {
        const key = new tls.PrivateKey(`${name}-ca-key`, KEY, child);
        const cert = new tls.SelfSignedCert(
            `${name}-ca`,
            {
                privateKeyPem: key.privateKeyPem,
                isCaCertificate: true,
                subject: { commonName: CA_COMMON_NAME, organization: ORGANIZATION },
                validityPeriodHours: CA_VALIDITY_HOURS,
                earlyRenewalHours: CA_EARLY_RENEWAL_HOURS,
                allowedUses: [...CA_CERTIFICATE_USES],
                setSubjectKeyId: true,
            },
            child,
        );
        return { certPem: cert.certPem, keyPem: pulumi.secret(key.privateKeyPem) };
    }
}
