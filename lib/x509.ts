/**
 * X.509 v3 certificates from Node's own crypto, for the places that cannot run @pulumi/tls: the local
 * runtime's CA and server certificate (`npm run local -- up --tls`), `npm run render`, the mocks of
 * @pulumi/tls and the tests. Node parses and verifies certificates (crypto.X509Certificate) but
 * cannot issue one, and a certificate is only DER: a TBSCertificate signed by the issuer's key
 * (RFC 5280). This file encodes the few fields those certificates need and nothing else, so no
 * openssl binary and no package is needed, and no network.
 *
 * Keys are ECDSA P-256 (what the stack's @pulumi/tls keys are); an issuer key may also be RSA or
 * Ed25519 (a CA someone else made). The key identifiers are RFC 5280's method 1 (SHA-1 of the public
 * key bits), the method @pulumi/tls and OpenSSL use, so an issuer's SKID and our AKID agree.
 */
import * as crypto from "crypto";

/** What a certificate may be used for, in @pulumi/tls's `allowedUses` words. */
export type CertificateUse = "digital_signature" | "key_encipherment" | "cert_signing" | "crl_signing" | "server_auth" | "client_auth";

export interface CertificateSpec {
    readonly commonName: string;
    readonly organization?: string;
    /** DNS subject alternative names (`*.example` wildcards allowed). */
    readonly dnsNames?: readonly string[];
    /** IPv4 subject alternative names. */
    readonly ipAddresses?: readonly string[];
    /** A CA (basicConstraints cA TRUE) rather than an end entity. */
    readonly isCa?: boolean;
    readonly uses: readonly CertificateUse[];
    readonly notBefore: Date;
    readonly notAfter: Date;
}

/** A certificate and its private key, both PEM. */
export interface KeyPair {
    readonly certPem: string;
    readonly keyPem: string;
}

// ---------------------------------------------------------------- DER encoding

function derLength(n: number): Buffer {
    if (n < 0x80) return Buffer.from([n]);
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
    return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
    return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

const seq = (...parts: Buffer[]) => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => tlv(0x31, Buffer.concat(parts));
const octets = (b: Buffer) => tlv(0x04, b);
const bitString = (b: Buffer, unusedBits = 0) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), b]));
const explicit = (n: number, content: Buffer) => tlv(0xa0 + n, content);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const TRUE = tlv(0x01, Buffer.from([0xff]));
const NULL = tlv(0x05, Buffer.alloc(0));

/** A non-negative INTEGER from big-endian bytes (a leading 0 keeps it positive). */
function integer(bytes: Buffer): Buffer {
    let b = bytes;
    while (b.length > 1 && b[0] === 0 && b[1] < 0x80) b = b.subarray(1);
    return tlv(0x02, b[0] >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

function oid(dotted: string): Buffer {
    const arcs = dotted.split(".").map(Number);
    const body: number[] = [40 * arcs[0] + arcs[1]];
    for (const arc of arcs.slice(2)) {
        const chunk: number[] = [arc & 0x7f];
        for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
        body.push(...chunk);
    }
    return tlv(0x06, Buffer.from(body));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5), to the second. */
function time(d: Date): Buffer {
    const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
    const year = d.getUTCFullYear();
    return year >= 1950 && year < 2050 ? tlv(0x17, Buffer.from(iso.slice(2) + "Z")) : tlv(0x18, Buffer.from(iso + "Z"));
}

// ---------------------------------------------------------------- DER reading (only what issuing needs)

interface Tlv {
    readonly tag: number;
    /** Offset of the tag, of the content, and the end. */
    readonly start: number;
    readonly contentStart: number;
    readonly end: number;
}

function readTlv(buf: Buffer, offset: number): Tlv {
    const tag = buf[offset];
    let len = buf[offset + 1];
    let header = 2;
    if (len & 0x80) {
        const count = len & 0x7f;
        len = 0;
        for (let i = 0; i < count; i++) len = len * 256 + buf[offset + 2 + i];
        header += count;
    }
    const end = offset + header + len;
    if (tag === undefined || end > buf.length) throw new Error("x509: truncated DER");
    return { tag, start: offset, contentStart: offset + header, end };
}

function children(buf: Buffer, parent: Tlv): Tlv[] {
    const out: Tlv[] = [];
    for (let at = parent.contentStart; at < parent.end; at = out[out.length - 1].end) out.push(readTlv(buf, at));
    return out;
}

/** The subject Name of a certificate, as encoded (an issued certificate's issuer must be exactly this). */
function subjectOf(certDer: Buffer): Buffer {
    const tbs = children(certDer, readTlv(certDer, 0))[0];
    const fields = children(certDer, tbs);
    const first = fields[0].tag === 0xa0 ? 1 : 0; // [0] version is optional
    const subject = fields[first + 4]; // serial, signature, issuer, validity, subject
    return certDer.subarray(subject.start, subject.end);
}

/** RFC 5280 key identifier, method 1: SHA-1 of the subjectPublicKey BIT STRING's bits. */
function keyIdentifier(publicKey: crypto.KeyObject): Buffer {
    const spki = publicKey.export({ type: "spki", format: "der" });
    const bits = children(spki, readTlv(spki, 0))[1];
    return crypto
        .createHash("sha1")
        .update(spki.subarray(bits.contentStart + 1, bits.end))
        .digest();
}

// ---------------------------------------------------------------- certificates

const OID = {
    commonName: "2.5.4.3",
    organization: "2.5.4.10",
    basicConstraints: "2.5.29.19",
    keyUsage: "2.5.29.15",
    extKeyUsage: "2.5.29.37",
    subjectAltName: "2.5.29.17",
    subjectKeyId: "2.5.29.14",
    authorityKeyId: "2.5.29.35",
    serverAuth: "1.3.6.1.5.5.7.3.1",
    clientAuth: "1.3.6.1.5.5.7.3.2",
    ecdsaWithSha256: "1.2.840.10045.4.3.2",
    sha256WithRsa: "1.2.840.113549.1.1.11",
    ed25519: "1.3.101.112",
} as const;

/** keyUsage bit of each use (bit 0 is the most significant of the first byte). */
const KEY_USAGE_BIT: Partial<Record<CertificateUse, number>> = {
    digital_signature: 0,
    key_encipherment: 2,
    cert_signing: 5,
    crl_signing: 6,
};

function name(spec: Pick<CertificateSpec, "commonName" | "organization">): Buffer {
    const rdn = (type: string, value: string) => set(seq(oid(type), utf8(value)));
    return seq(...(spec.organization ? [rdn(OID.organization, spec.organization)] : []), rdn(OID.commonName, spec.commonName));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
    return seq(oid(id), ...(critical ? [TRUE] : []), octets(value));
}

function keyUsage(uses: readonly CertificateUse[]): Buffer | undefined {
    const bits = uses.map((u) => KEY_USAGE_BIT[u]).filter((b): b is number => b !== undefined);
    if (bits.length === 0) return undefined;
    const bytes = Buffer.alloc(bits.some((b) => b >= 8) ? 2 : 1);
    for (const b of bits) bytes[b >> 3] |= 0x80 >> (b & 7);
    const last = bytes[bytes.length - 1];
    let unused = 0;
    while (unused < 7 && (last & (1 << unused)) === 0) unused++;
    return bitString(bytes, unused);
}

function subjectAltNames(spec: CertificateSpec): Buffer | undefined {
    const dns = (spec.dnsNames ?? []).map((n) => tlv(0x82, Buffer.from(n, "ascii")));
    const ips = (spec.ipAddresses ?? []).map((ip) => {
        const octetsOfIp = ip.split(".").map(Number);
        if (octetsOfIp.length !== 4 || octetsOfIp.some((o) => !Number.isInteger(o) || o < 0 || o > 255))
            throw new Error(`x509: ipAddresses: ${JSON.stringify(ip)} is not an IPv4 address`);
        return tlv(0x87, Buffer.from(octetsOfIp));
    });
    return dns.length + ips.length > 0 ? seq(...dns, ...ips) : undefined;
}

function extensions(spec: CertificateSpec, subjectKey: crypto.KeyObject, issuerKey: crypto.KeyObject): Buffer {
    const list = [extension(OID.basicConstraints, true, spec.isCa ? seq(TRUE) : seq())];
    const usage = keyUsage(spec.uses);
    if (usage) list.push(extension(OID.keyUsage, true, usage));
    const extended = [
        ...(spec.uses.includes("server_auth") ? [OID.serverAuth] : []),
        ...(spec.uses.includes("client_auth") ? [OID.clientAuth] : []),
    ];
    if (extended.length > 0) list.push(extension(OID.extKeyUsage, false, seq(...extended.map(oid))));
    const san = subjectAltNames(spec);
    if (san) list.push(extension(OID.subjectAltName, false, san));
    list.push(extension(OID.subjectKeyId, false, octets(keyIdentifier(subjectKey))));
    list.push(extension(OID.authorityKeyId, false, seq(tlv(0x80, keyIdentifier(issuerKey)))));
    return explicit(3, seq(...list));
}

/** The signature AlgorithmIdentifier and the digest crypto.sign needs for an issuer key. */
function signatureAlgorithm(key: crypto.KeyObject): { id: Buffer; digest: string | null } {
    switch (key.asymmetricKeyType) {
        case "ec":
            return { id: seq(oid(OID.ecdsaWithSha256)), digest: "sha256" };
        case "rsa":
            return { id: seq(oid(OID.sha256WithRsa), NULL), digest: "sha256" };
        case "ed25519":
            return { id: seq(oid(OID.ed25519)), digest: null };
        default:
            throw new Error(`x509: cannot sign with a ${key.asymmetricKeyType ?? "unknown"} key (ec, rsa or ed25519)`);
    }
}

function toPem(label: string, der: Buffer): string {
    const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
    return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** A new ECDSA P-256 private key, PKCS#8 PEM. */
export function newPrivateKeyPem(): string {
    const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    return privateKey.export({ type: "pkcs8", format: "pem" }) as string;
}

/**
 * The certificate of `subjectKeyPem`'s public key for `spec`, signed by `issuer` (self-signed when
 * no issuer certificate is given: then `issuer.keyPem` is the subject's own key).
 */
export function issueCertificate(
    spec: CertificateSpec,
    subjectKeyPem: string,
    issuer: { readonly certPem?: string; readonly keyPem: string },
): string {
    const subjectKey = crypto.createPublicKey(subjectKeyPem);
    const issuerKey = crypto.createPrivateKey(issuer.keyPem);
    const issuerName = issuer.certPem ? subjectOf(new crypto.X509Certificate(issuer.certPem).raw) : name(spec);
    const algorithm = signatureAlgorithm(issuerKey);
    const serial = crypto.randomBytes(16);
    serial[0] = (serial[0] & 0x7f) | 0x40; // positive, 16 bytes, never a leading zero
    const tbs = seq(
        explicit(0, integer(Buffer.from([2]))),
        integer(serial),
        algorithm.id,
        issuerName,
        seq(time(spec.notBefore), time(spec.notAfter)),
        name(spec),
        subjectKey.export({ type: "spki", format: "der" }),
        extensions(spec, subjectKey, crypto.createPublicKey(issuerKey)),
    );
    const signature = crypto.sign(algorithm.digest, tbs, issuerKey);
    return toPem("CERTIFICATE", seq(tbs, algorithm.id, bitString(signature)));
}

/** A self-signed CA valid from now for `days` (a minute early, for clocks a little behind). */
export function newCertificateAuthority(commonName: string, days: number, now = new Date()): KeyPair {
    const keyPem = newPrivateKeyPem();
    const certPem = issueCertificate(
        {
            commonName,
            organization: "redis-cluster-gke",
            isCa: true,
            uses: ["cert_signing", "crl_signing"],
            notBefore: new Date(now.getTime() - 60_000),
            notAfter: new Date(now.getTime() + days * 86_400_000),
        },
        keyPem,
        { keyPem },
    );
    return { certPem, keyPem };
}

/** A new key and its certificate signed by `ca`, valid from now for `days`. */
export function newSignedCertificate(
    ca: KeyPair,
    spec: Omit<CertificateSpec, "notBefore" | "notAfter" | "isCa">,
    days: number,
    now = new Date(),
): KeyPair {
    const keyPem = newPrivateKeyPem();
    const certPem = issueCertificate(
        { ...spec, notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + days * 86_400_000) },
        keyPem,
        ca,
    );
    return { certPem, keyPem };
}
