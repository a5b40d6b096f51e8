/**
 * The hit counter as a local pod: the same bundle the Deployment runs from its ConfigMap, under
 * this machine's node, with the Deployment's env contract and its HTTP probes. It is not built
 * from the Deployment's template: its image (node on Alpine) is not the Redis image, and its
 * preStop pause only lets a load balancer drop the pod, which has no counterpart here.
 */
import * as net from "net";
import { NodeAccess } from "../components/formation/transport";
import { LocalPodSpec } from "./podTemplate";

export const APP_POD = "app";
const PREFERRED_PORT = 8080;

export interface AppPodOptions {
    readonly bundle: string;
    readonly port: number;
    /** The operators' listener (/metrics, /healthz): its liveness probe goes there, as in the Deployment. */
    readonly metricsPort: number;
    /** The app's ACL user and, with TLS, that it is on (the password is read from `passwordFile`). */
    readonly access: NodeAccess;
    /** The app user's password file: the users Secret's copy, which a rotation updates in place. */
    readonly passwordFile: string;
    /** With TLS: the CA's file (the Deployment mounts the CA ConfigMap; locally the TLS Secret's copy serves). */
    readonly caFile?: string;
    readonly waitReplicas: number;
    readonly baseEnv: Readonly<Record<string, string>>;
    readonly readinessPeriodMs: number;
}

/** Pure: the app pod; REDIS_NODES is added at each start from the pods' current addresses. */
export function appPodSpec(o: AppPodOptions): LocalPodSpec {
    const probe = (path: string, port: number, periodMs: number) => ({
        action: { httpGet: { path, port } },
        initialDelayMs: 0,
        periodMs,
        timeoutMs: 3000,
        failureThreshold: 3,
        successThreshold: 1,
    });
    return {
        name: APP_POD,
        address: "127.0.0.1",
        initContainers: [],
        containers: [
            {
                name: "hit-counter",
                image: `node ${process.version} (local)`,
                argv: [process.execPath, o.bundle],
                env: {
                    ...o.baseEnv,
                    ...(o.access.username ? { REDIS_USERNAME: o.access.username } : {}),
                    REDIS_PASSWORD_FILE: o.passwordFile,
                    REDIS_TLS: String(o.access.tls !== undefined),
                    ...(o.access.tls && o.caFile ? { REDIS_CA_FILE: o.caFile } : {}),
                    PORT: String(o.port),
                    METRICS_PORT: String(o.metricsPort),
                    HOST: "127.0.0.1",
                    WAIT_REPLICAS: String(o.waitReplicas),
                },
                readinessProbe: probe("/readyz", o.port, o.readinessPeriodMs),
                livenessProbe: probe("/healthz", o.metricsPort, 2 * o.readinessPeriodMs),
            },
        ],
        terminationGracePeriodMs: 15_000,
        skipped: [],
    };
}

function portIsFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.once("error", () => resolve(false));
        s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
}

/** The port asked for (refused when taken), else 8080 when free, else any free port on 127.0.0.1. */
export async function pickAppPort(preferred?: number): Promise<number> {
    if (preferred !== undefined) {
        if (!(await portIsFree(preferred))) throw new Error(`--app-port: port ${preferred} on 127.0.0.1 is already in use`);
        return preferred;
    }
    if (await portIsFree(PREFERRED_PORT)) return PREFERRED_PORT;
    return anyFreePort();
}

/** A port on 127.0.0.1 that nothing listens on now. */
export function anyFreePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const port = (s.address() as net.AddressInfo).port;
            s.close(() => resolve(port));
        });
    });
}
