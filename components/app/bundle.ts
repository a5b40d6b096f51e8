/**
 * The hit-counter service as one self-contained CommonJS file, so Kubernetes runs it
 * with the official Node.js image and a ConfigMap: no image to build or push.
 */
import * as esbuild from "esbuild";
import * as path from "path";
import { MIN_NODE_MAJOR } from "../configKeys";

/** Entry point of the service (also runnable directly with ts-node). */
export const SERVER_ENTRY = path.join(__dirname, "..", "..", "app", "server.ts");

/** A ConfigMap holds at most 1 MiB in total; the bundle must leave room for the rest. */
export const MAX_BUNDLE_BYTES = 1024 * 1024;

/** esbuild's target: the Node.js major of the default image, the oldest `app:nodeImage` accepts. */
export const BUNDLE_TARGET = `node${MIN_NODE_MAJOR}`;

/**
 * Bundles app/server.ts with its dependencies (ioredis, prom-client) into one minified
 * CommonJS file for BUNDLE_TARGET. Deterministic for the same sources, so an unchanged app
 * leaves the ConfigMap (and the Deployment's rollout) untouched.
 */
export function bundleServer(): string {
    const result = esbuild.buildSync({
        entryPoints: [SERVER_ENTRY],
        bundle: true,
        platform: "node",
        target: BUNDLE_TARGET,
        format: "cjs",
        minify: true,
        write: false,
        legalComments: "none",
        logLevel: "silent",
    });
    const text = result.outputFiles[0].text;
    if (Buffer.byteLength(text) >= MAX_BUNDLE_BYTES) {
        throw new Error(`hit-counter bundle is ${Buffer.byteLength(text)} bytes; a ConfigMap holds at most ${MAX_BUNDLE_BYTES}`);
    }
    return text;
}
