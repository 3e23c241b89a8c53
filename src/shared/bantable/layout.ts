/**
 * Memory layout of the ban table's SharedArrayBuffers. Kept in one place so the writer, the
 * readers and the snapshot code agree.
 *
 * Exact entries and prefixes share two open-addressing hash tables (IPv4 and IPv6); a prefix is
 * keyed by (masked address, prefix length). A lookup probes the full-length key, then each
 * prefix length in use, skipping lengths whose presence bitmap says no entry starts with the
 * address's top 16 bits.
 *
 * IPv4 slot, 4 × i32 (16 bytes):  [key, seq, expiresAt, meta]
 * IPv6 slot, 8 × i32 (32 bytes):  [k0, k1, k2, k3, seq, expiresAt, meta, offences]
 *
 * meta bits: 0-2 kinds present (TEMP=1, BLACK=2, WHITE=4), 3 occupied, 4 tombstone,
 *            5-12 prefix length, 13-17 offences (IPv4 only, capped), 18-30 reason id,
 *            31 scoped: some service's table (scoped.ts) holds a ban for this key, so a lookup
 *            that found nothing here asks it. A slot may hold only this mark.
 * `seq` is a per-slot seqlock: odd while the writer is changing the slot.
 */

export const V4_WORDS = 4;
export const V4_KEY = 0;
export const V4_SEQ = 1;
export const V4_EXP = 2;
export const V4_META = 3;

export const V6_WORDS = 8;
export const V6_SEQ = 4;
export const V6_EXP = 5;
export const V6_META = 6;
export const V6_OFF = 7;

export const F_TEMP = 1;
export const F_BLACK = 2;
export const F_WHITE = 4;
export const M_KINDS = 7;
export const M_OCC = 8;
export const M_TOMB = 16;
export const M_LEN_SHIFT = 5;
export const M_LEN_MASK = 0xff;
export const M_OFF_SHIFT = 13;
export const M_OFF_MAX = 31;
export const M_REASON_SHIFT = 18;
export const REASON_MAX = (1 << 13) - 1;
/** The scoped mark (bit 31, so the meta word is negative as an int32 when it is set). */
export const M_SCOPED = 1 << 31;
/** What keeps a slot occupied: a kind or the scoped mark. */
export const M_HELD = M_KINDS | M_SCOPED;

/**
 * Control block (Int32Array): the generation counter, and the prefix lengths in use as bit masks
 * (bit L of word V4MASK = some IPv4 prefix of length L < 32 exists; V6MASK+w covers lengths
 * 32w..32w+31 < 128). Masks are single words so a reader never sees a half-updated list.
 */
export const C_GEN = 0;
export const C_V4MASK = 1;
export const C_V6MASK = 2; // 4 words
export const C_WORDS = 8;

/** Presence bitmaps: one 65536-bit map (2048 words) per prefix length, indexed by the top 16 bits. */
export const BITMAP_WORDS = 2048;

export function metaLen(meta: number): number {
  return (meta >>> M_LEN_SHIFT) & M_LEN_MASK;
}

export function metaReason(meta: number): number {
  return (meta >>> M_REASON_SHIFT) & REASON_MAX;
}
