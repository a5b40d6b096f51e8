/**
 * Pulumi entry point: validated config -> target cluster -> Redis Cluster -> formation -> hit-counter app.
 * Composition lives in components/stack.ts (also evaluated by the mocks tests); this file only
 * reads the live config and exports the outputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadSettings } from "./components/config";
import { composeStack } from "./components/stack";
import { bundleServer } from "./components/app/bundle";
import { runsBundledServer } from "./components/app/hitCounter";

// Invalid config throws here, before any resource is registered.
const settings = loadSettings();
const stack = composeStack(settings, {
    stack: pulumi.getStack(),
    appServerSource: runsBundledServer(settings.app) ? bundleServer() : "",
});

export const kubeconfig = stack.kubeconfig;
export const namespace = stack.namespace;
export const redisSeeds = stack.redisSeeds;
export const redisShards = stack.redisShards;
export const redisPlacementOk = stack.redisPlacementOk;
export const redisPlacementWarnings = stack.redisPlacementWarnings;
export const redisClientService = stack.redisClientService;
export const redisClientEndpoint = stack.redisClientEndpoint;
export const appUrl = stack.appUrl;
export const redisAdminPassword = stack.redisAdminPassword;
export const redisClientAccess = stack.redisClientAccess;
export const redisCaCertificate = stack.redisCaCertificate;
export const redisTlsNotAfter = stack.redisTlsNotAfter;
