/** Minimal HTTP checks used to wait for the hit counter and to probe it. */
import * as http from "http";
import { PollOptions, eventually } from "./poll";

/** HTTP status of a GET, or 0 when the request failed below HTTP (refused, reset, timed out). */
export function httpStatus(url: string, timeoutMs = 2000): Promise<number> {
    return new Promise((resolve) => {
        const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
            res.on("error", () => resolve(0));
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", () => resolve(0));
    });
}

/** Whether `url` answered 200 within the poll's time. */
export function becomesOk(url: string, o: PollOptions): Promise<boolean> {
    return eventually(async () => (await httpStatus(url)) === 200, o);
}
