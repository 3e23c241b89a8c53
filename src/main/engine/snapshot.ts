import { createHash } from 'node:crypto';
import { EdgebanError } from '../../shared/errors.js';
import type { Offences, TempBans } from './records.js';

/**
 * The engine's temporary bans and offence memory as one file, written when the process stops
 * and read at the next start before the database is: a million bans are back in force in the
 * time it takes to copy columns, not to turn a million SQL rows into values. The database stays
 * the truth: every row the snapshot put is marked unconfirmed until the database's own restore
 * shows it, and what the database no longer holds is dropped then.
 *
 * Layout: `EBS1`, the header's length (u32 LE), the header (JSON: counts, strings, jails, the
 * database it belongs to, the body's SHA-256), zero padding to 8 bytes, then the body: per ban
 * and per offence one typed column after another (little-endian, each 8-byte aligned), strings
 * as indexes into the header's `strings` (0 = null), IPv6 keys' last three words in a column of
 * their own for the IPv6 rows only.
 */
const MAGIC = 'EBS1';
const VERSION = 1;
/** Past this a header is not one of ours (the strings are a handful of reasons and patterns). */
const MAX_HEADER = 64 * 1024 * 1024;

export interface SnapshotMeta {
  /** The database the state was persisted to (a snapshot of another is not loaded). */
  database: string;
  node: string;
  writtenAt: number;
  /** The database's state fingerprint when this was written (store state-digest.ts); null: none. */
  digest: string | null;
}

interface Header extends SnapshotMeta {
  v: number;
  strings: (string | null)[];
  jails: string[];
  bans: number;
  bans6: number;
  offences: number;
  offences6: number;
  sha256: string;
}

/** A decoded snapshot: its columns are views of the file's bytes. */
export interface EngineSnapshot {
  readonly meta: SnapshotMeta;
  readonly strings: readonly (string | null)[];
  readonly jails: readonly string[];
  readonly bans: {
    readonly length: number;
    readonly exp: Float64Array;
    readonly created: Float64Array;
    readonly key0: Uint32Array;
    readonly count: Uint32Array;
    readonly reason: Uint32Array;
    readonly pattern: Uint32Array;
    readonly creator: Uint32Array;
    readonly node: Uint32Array;
    readonly services: Uint32Array;
    readonly jail: Uint32Array;
    readonly plen: Uint8Array;
    readonly fam: Uint8Array;
    /** Words 1–3 of the IPv6 rows' keys, in row order. */
    readonly rest: Uint32Array;
  };
  readonly offences: {
    readonly length: number;
    readonly last: Float64Array;
    readonly key0: Uint32Array;
    readonly count: Uint32Array;
    readonly plen: Uint8Array;
    readonly fam: Uint8Array;
    readonly rest: Uint32Array;
  };
}

function corrupt(why: string): EdgebanError {
  return new EdgebanError('E_SNAPSHOT', `engine state snapshot ${why}`);
}

const pad8 = (n: number): number => (n + 7) & ~7;

/** Byte sizes of the body's columns, in order, for `bans` and `offences` rows. */
function columnSizes(h: Pick<Header, 'bans' | 'bans6' | 'offences' | 'offences6'>): number[] {
  const b = h.bans;
  const o = h.offences;
  return [
    b * 8, // exp
    b * 8, // created
    ...Array.from({ length: 8 }, () => b * 4), // key0 count reason pattern creator node services jail
    b, // plen
    b, // fam
    h.bans6 * 12, // rest
    o * 8, // last
    o * 4, // key0
    o * 4, // count
    o, // plen
    o, // fam
    h.offences6 * 12, // rest
  ];
}

/** Where each column starts in the body (8-byte aligned) and the body's length. */
function bodyLayout(h: Pick<Header, 'bans' | 'bans6' | 'offences' | 'offences6'>): {
  offsets: number[];
  length: number;
} {
  const offsets: number[] = [];
  let length = 0;
  for (const size of columnSizes(h)) {
    offsets.push(length);
    length = pad8(length + size);
  }
  return { offsets, length };
}

/** Typed views of column `k` (`n` elements) of a body at byte `at` of `ab`. */
function views(ab: ArrayBufferLike, at: number, offsets: readonly number[]) {
  return {
    f64: (k: number, n: number) => new Float64Array(ab, at + offsets[k], n),
    u32: (k: number, n: number) => new Uint32Array(ab, at + offsets[k], n),
    u8: (k: number, n: number) => new Uint8Array(ab, at + offsets[k], n),
  };
}

/**
 * The live, enforced temporary bans of `jails` (shadow ones are forgotten by a restart, as the
 * store does) and the offence memory, encoded.
 */
export function encodeSnapshot(
  meta: SnapshotMeta,
  jails: readonly { name: string; temp: TempBans }[],
  offences: Offences,
): Buffer {
  const strings: (string | null)[] = [null];
  const ids = new Map<string, number>();
  const sid = (s: string | null): number => {
    if (s === null) return 0;
    let id = ids.get(s);
    if (id === undefined) {
      id = strings.length;
      strings.push(s);
      ids.set(s, id);
    }
    return id;
  };
  let bans = 0;
  let bans6 = 0;
  for (const { temp } of jails)
    for (let r = 0; r < temp.end; r++)
      if (temp.isLive(r) && !temp.isShadow(r)) {
        bans++;
        if (temp.familyOf(r) === 6) bans6++;
      }
  let offences6 = 0;
  for (let r = 0; r < offences.end; r++) if (offences.isLive(r) && offences.familyOf(r) === 6) offences6++;
  const counts = { bans, bans6, offences: offences.size, offences6 };
  const { offsets, length } = bodyLayout(counts);
  const body = Buffer.alloc(length);
  const { f64, u32, u8 } = views(body.buffer, body.byteOffset, offsets);
  const [exp, created] = [f64(0, bans), f64(1, bans)];
  const [key0, count, reason, pattern, creator, node, services, jail] = [2, 3, 4, 5, 6, 7, 8, 9].map((k) =>
    u32(k, bans),
  );
  const [plen, fam, rest] = [u8(10, bans), u8(11, bans), u32(12, bans6 * 3)];
  let i = 0;
  let i6 = 0;
  jails.forEach(({ temp }, j) => {
    for (let r = 0; r < temp.end; r++) {
      if (!temp.isLive(r) || temp.isShadow(r)) continue;
      exp[i] = temp.expiresAt(r);
      created[i] = temp.createdAt(r);
      key0[i] = temp.keyWord(r, 0);
      count[i] = temp.offencesOf(r);
      reason[i] = sid(temp.reasonOf(r));
      pattern[i] = sid(temp.pattern(r));
      creator[i] = sid(temp.createdByOf(r));
      node[i] = sid(temp.node(r));
      services[i] = sid(temp.servicesText(r));
      jail[i] = j;
      plen[i] = temp.prefixOf(r);
      fam[i] = temp.familyOf(r);
      if (fam[i] === 6) for (let w = 1; w < 4; w++) rest[i6++] = temp.keyWord(r, w);
      i++;
    }
  });
  const [last, oKey0, oCount] = [
    f64(13, counts.offences),
    u32(14, counts.offences),
    u32(15, counts.offences),
  ];
  const [oPlen, oFam, oRest] = [u8(16, counts.offences), u8(17, counts.offences), u32(18, offences6 * 3)];
  let o = 0;
  let o6 = 0;
  for (let r = 0; r < offences.end; r++) {
    if (!offences.isLive(r)) continue;
    last[o] = offences.lastOffence(r);
    oKey0[o] = offences.keyWord(r, 0);
    oCount[o] = offences.banCount(r);
    oPlen[o] = offences.prefixOf(r);
    oFam[o] = offences.familyOf(r);
    if (oFam[o] === 6) for (let w = 1; w < 4; w++) oRest[o6++] = offences.keyWord(r, w);
    o++;
  }
  const header: Header = {
    v: VERSION,
    ...meta,
    strings,
    jails: jails.map((j) => j.name),
    ...counts,
    sha256: createHash('sha256').update(body).digest('hex'),
  };
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(pad8(8 + json.length));
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(json.length, 4);
  json.copy(head, 8);
  return Buffer.concat([head, body]);
}

const count = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/** Reads a snapshot, checking its checksum and every id and key shape; E_SNAPSHOT when it fails. */
export function decodeSnapshot(file: Uint8Array): EngineSnapshot {
  // the columns are views: the body must sit on an 8-byte boundary of its buffer
  const buf = file.byteOffset % 8 === 0 ? file : new Uint8Array(file);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 8 || b.toString('latin1', 0, 4) !== MAGIC) throw corrupt(`is not one (${MAGIC})`);
  const hlen = b.readUInt32LE(4);
  if (hlen > MAX_HEADER || 8 + hlen > b.length) throw corrupt('has a corrupt header length');
  let h: Header;
  try {
    h = JSON.parse(b.toString('utf8', 8, 8 + hlen)) as Header;
  } catch {
    throw corrupt('has a header that is not JSON');
  }
  if (h === null || typeof h !== 'object' || h.v !== VERSION) throw corrupt(`is not version ${VERSION}`);
  if (![h.bans, h.bans6, h.offences, h.offences6, h.writtenAt].every(count))
    throw corrupt('has corrupt counts');
  if (h.bans6 > h.bans || h.offences6 > h.offences) throw corrupt('has corrupt IPv6 counts');
  if (typeof h.database !== 'string' || typeof h.node !== 'string' || typeof h.sha256 !== 'string')
    throw corrupt('has a corrupt header');
  if (h.digest !== null && typeof h.digest !== 'string') throw corrupt('has a corrupt digest');
  if (
    !Array.isArray(h.strings) ||
    h.strings[0] !== null ||
    h.strings.some((s, k) => k > 0 && typeof s !== 'string')
  )
    throw corrupt('has corrupt strings');
  if (
    !Array.isArray(h.jails) ||
    h.jails.length === 0 ||
    h.jails.some((j) => typeof j !== 'string' || j === '') ||
    // one jail twice would load its rows twice, each the other's duplicate
    new Set(h.jails).size !== h.jails.length
  )
    throw corrupt('has corrupt jails');
  const start = pad8(8 + hlen);
  const { offsets, length } = bodyLayout(h);
  if (start + length !== b.length) throw corrupt('has a corrupt size');
  const body = b.subarray(start);
  if (createHash('sha256').update(body).digest('hex') !== h.sha256) throw corrupt('fails its checksum');
  const { f64, u32, u8 } = views(buf.buffer, buf.byteOffset + start, offsets);
  const n = h.bans;
  const bans = {
    length: n,
    exp: f64(0, n),
    created: f64(1, n),
    key0: u32(2, n),
    count: u32(3, n),
    reason: u32(4, n),
    pattern: u32(5, n),
    creator: u32(6, n),
    node: u32(7, n),
    services: u32(8, n),
    jail: u32(9, n),
    plen: u8(10, n),
    fam: u8(11, n),
    rest: u32(12, h.bans6 * 3),
  };
  const m = h.offences;
  const offences = {
    length: m,
    last: f64(13, m),
    key0: u32(14, m),
    count: u32(15, m),
    plen: u8(16, m),
    fam: u8(17, m),
    rest: u32(18, h.offences6 * 3),
  };
  checkKeys(bans.fam, bans.plen, h.bans6);
  checkKeys(offences.fam, offences.plen, h.offences6);
  const ns = h.strings.length;
  for (const col of [bans.reason, bans.pattern, bans.creator, bans.node, bans.services])
    for (let i = 0; i < n; i++) if (col[i] >= ns) throw corrupt('names a string it does not hold');
  for (let i = 0; i < n; i++) {
    if (bans.jail[i] >= h.jails.length) throw corrupt('names a jail it does not hold');
    if (!Number.isFinite(bans.exp[i]) || !Number.isFinite(bans.created[i]))
      throw corrupt('has a corrupt time');
  }
  for (let i = 0; i < m; i++) if (!Number.isFinite(offences.last[i])) throw corrupt('has a corrupt time');
  return {
    meta: { database: h.database, node: h.node, writtenAt: h.writtenAt, digest: h.digest },
    strings: h.strings,
    jails: h.jails,
    bans,
    offences,
  };
}

function checkKeys(fam: Uint8Array, plen: Uint8Array, sixes: number): void {
  let n6 = 0;
  for (let i = 0; i < fam.length; i++) {
    const f = fam[i];
    if (f === 6) n6++;
    else if (f !== 4) throw corrupt('has a corrupt address family');
    if (plen[i] > (f === 4 ? 32 : 128)) throw corrupt('has a corrupt prefix length');
  }
  if (n6 !== sixes) throw corrupt('has corrupt IPv6 counts');
}
