/**
 * Redis Cluster's key -> slot mapping (CRC16-XMODEM of the hash tag, mod 16384), so a test can
 * put thousands of keys into one chosen slot. Checked against CLUSTER KEYSLOT by the tests that use it.
 */
import { SLOT_COUNT } from "../../components/shape";

const CRC16_TABLE = Array.from({ length: 256 }, (_, byte) => {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    return crc;
});

function crc16(bytes: Buffer): number {
    let crc = 0;
    for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff];
    return crc;
}

/** The slot of `key`: only the part inside the first non-empty {…} counts, when there is one. */
export function keySlot(key: string): number {
    const open = key.indexOf("{");
    const close = open === -1 ? -1 : key.indexOf("}", open + 1);
    const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
    return crc16(Buffer.from(hashed, "utf8")) % SLOT_COUNT;
}

/** A hash tag (without braces) whose keys all land in `slot`. */
export function tagForSlot(slot: number, prefix = "t"): string {
    for (let i = 0; ; i++) {
        const tag = `${prefix}${i}`;
        if (keySlot(`{${tag}}`) === slot) return tag;
    }
}
