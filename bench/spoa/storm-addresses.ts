/** The storm's client addresses: index → address, IPv4 or IPv6 (every 4th), and which are banned. */
export const STORM_ADDRESSES = 4096;

export function addressBytes(i: number): { bytes: Uint8Array; family: 4 | 6 } {
  if (i % 4 === 3) {
    const b = new Uint8Array(16);
    b.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i >> 8, i & 255]);
    return { bytes: b, family: 6 };
  }
  return { bytes: new Uint8Array([10, 20, i >> 8, i & 255]), family: 4 };
}

/** Deterministic: the same addresses are banned in the agent and expected banned by the replayer. */
export function isBanned(i: number, percent: number): boolean {
  return (Math.imul(i, 2654435761) >>> 0) % 100 < percent;
}
