/** DIR/supervisor.pid: one supervisor per DIR. A lock left by a supervisor that died is taken over. */
import * as fs from "fs";
import { ProcessRecord, isSameProcessAlive, recordProcess } from "../lib/process";
import { Layout, readJson } from "./layout";

export class SupervisorLockedError extends Error {}

/** Refuses when a live supervisor holds DIR's lock. */
export function refuseIfLocked(layout: Layout): void {
    const holder = readJson<ProcessRecord>(layout.lock);
    if (holder && isSameProcessAlive(holder)) {
        throw new SupervisorLockedError(
            `a supervisor (pid ${holder.pid}) already runs for ${layout.dir}: use its verbs (\`npm run local -- status --dir ${layout.dir}\`, \`down\`, …) instead of starting another`,
        );
    }
}

/** DIR/supervisor.pid, created exclusively: a second supervisor for the same DIR is refused. */
export function acquireLock(layout: Layout): void {
    for (let attempt = 0; attempt < 2; attempt++) {
        try {
            fs.writeFileSync(layout.lock, JSON.stringify(recordProcess(process.pid)) + "\n", { flag: "wx", mode: 0o600 });
            return;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
            refuseIfLocked(layout);
            fs.rmSync(layout.lock, { force: true }); // left by a supervisor that died
        }
    }
    throw new SupervisorLockedError(`could not take the lock ${layout.lock}`);
}

export function releaseLock(layout: Layout): void {
    const holder = readJson<{ pid: number }>(layout.lock);
    if (holder?.pid === process.pid) fs.rmSync(layout.lock, { force: true });
}
