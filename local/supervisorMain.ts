/**
 * Entry of the detached supervisor process that `npm run local -- up` starts:
 *   node -r ts-node/register/transpile-only local/supervisorMain.ts DIR
 * Its output goes to DIR/logs/supervisor.log. SIGTERM, SIGINT and SIGHUP stop it gracefully
 * (every pod first); `down` asks it over its socket.
 */
import { Supervisor } from "./supervisor";

async function main(dir: string | undefined): Promise<void> {
    if (!dir) throw new Error("usage: supervisorMain.ts DIR");
    process.umask(0o077);
    const log = (line: string) => console.log(`[supervisor ${new Date().toISOString()}] ${line}`);
    const supervisor = await Supervisor.start(dir, log);
    const exit = () => process.exit(0);
    supervisor.onStopped = exit;
    const stopAndExit = (why: string, code: number) => {
        log(`${why}: stopping every pod`);
        supervisor
            .stop()
            .catch((e: Error) => log(`while stopping: ${e.stack ?? e.message}`))
            .finally(() => process.exit(code));
    };
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => stopAndExit(signal, 0));
    process.on("uncaughtException", (e) => stopAndExit(`uncaught: ${e.stack ?? e.message}`, 1));
    process.on("unhandledRejection", (e) => stopAndExit(`unhandled: ${(e as Error)?.stack ?? String(e)}`, 1));
}

main(process.argv[2]).catch((e: Error) => {
    console.error(`supervisor: ${e.message}`);
    process.exit(1);
});
