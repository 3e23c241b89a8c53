/**
 * A reference SPOP codec for the property tests, written from spop.md and independent of the
 * agent's code: it builds NOTIFYs from a structured description, predicts the ACK the agent
 * owes for them, and decodes (strictly) whatever the agent wrote.
 */

export type Value =
  | { t: 'null' }
  | { t: 'bool'; v: boolean }
  | { t: 'int32' | 'uint32' | 'int64' | 'uint64'; v: bigint }
  | { t: 'ipv4'; b: Uint8Array }
  | { t: 'ipv6'; b: Uint8Array }
  | { t: 'string' | 'binary'; b: Uint8Array };

export interface Arg {
  name: Uint8Array;
  value: Value;
}

export interface Message {
  name: Uint8Array;
  args: Arg[];
}

const TYPE: Record<Value['t'], number> = {
  null: 0,
  bool: 1,
  int32: 2,
  uint32: 3,
  int64: 4,
  uint64: 5,
  ipv4: 6,
  ipv6: 7,
  string: 8,
  binary: 9,
};

/** spop.md §1.2, on BigInt so every 64-bit value has its exact bytes. */
export function varint(v: bigint): number[] {
  v = BigInt.asUintN(64, v);
  if (v < 240n) return [Number(v)];
  const out = [Number(v & 0xffn) | 0xf0];
  v = (v - 240n) >> 4n;
  while (v >= 128n) {
    out.push(Number(v & 0xffn) | 0x80);
    v = (v - 128n) >> 7n;
  }
  out.push(Number(v));
  return out;
}

/** Decode a varint at `p`; null when truncated, longer than 10 bytes or above 2^64−1. */
export function readVarint(b: Uint8Array, p: number, end: number): { v: bigint; next: number } | null {
  if (p >= end) return null;
  let v = BigInt(b[p++]);
  if (v < 240n) return { v, next: p };
  let shift = 4n;
  for (let n = 1; n < 10; n++) {
    if (p >= end) return null;
    const x = b[p++];
    v += BigInt(x) << shift;
    shift += 7n;
    if (x < 128) return v > 0xffffffffffffffffn ? null : { v, next: p };
  }
  return null;
}

function bare(b: Uint8Array): number[] {
  return [...varint(BigInt(b.length)), ...b];
}

export function typed(v: Value): number[] {
  switch (v.t) {
    case 'null':
      return [0];
    case 'bool':
      return [v.v ? 0x11 : 0x01];
    case 'int32':
    case 'uint32':
    case 'int64':
    case 'uint64':
      return [TYPE[v.t], ...varint(v.v)];
    case 'ipv4':
    case 'ipv6':
      return [TYPE[v.t], ...v.b];
    default:
      return [TYPE[v.t], ...bare(v.b)];
  }
}

export function frameBytes(type: number, flags: number, sid: bigint, fid: bigint, payload: number[]): Buffer {
  const body = [type, (flags >>> 24) & 255, (flags >>> 16) & 255, (flags >>> 8) & 255, flags & 255];
  body.push(...varint(sid), ...varint(fid), ...payload);
  const out = Buffer.alloc(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

export function notifyBytes(sid: bigint, fid: bigint, messages: Message[]): Buffer {
  const payload: number[] = [];
  for (const m of messages) {
    payload.push(...bare(m.name), m.args.length);
    for (const a of m.args) payload.push(...bare(a.name), ...typed(a.value));
  }
  return frameBytes(3, 1, sid, fid, payload);
}

export function helloBytes(maxFrame: number): Buffer {
  const kv = (k: string, v: number[]) => [...bare(Buffer.from(k)), ...v];
  return frameBytes(1, 1, 0n, 0n, [
    ...kv('supported-versions', typed({ t: 'string', b: Buffer.from('2.0') })),
    ...kv('max-frame-size', typed({ t: 'uint32', v: BigInt(maxFrame) })),
    ...kv('capabilities', typed({ t: 'string', b: Buffer.from('pipelining') })),
  ]);
}

const ADDRESS_NAMES = new Set(['src', 'ip', 'src_ip']);

/** Which address a message is judged by: the first IPV4/IPV6 argument, else the first named STRING one. */
export function messageAddress(m: Message): Value | null {
  let chosen: Value | null = null;
  for (const a of m.args) {
    const v = a.value;
    if (v.t === 'ipv4' || v.t === 'ipv6') {
      if (chosen === null || chosen.t === 'string') chosen = v;
    } else if (
      v.t === 'string' &&
      chosen === null &&
      ADDRESS_NAMES.has(Buffer.from(a.name).toString('latin1'))
    ) {
      chosen = v;
    }
  }
  return chosen;
}

/**
 * The service a message names: the bytes of its first argument named `service` when that is a
 * STRING; null when it names none (no such argument, or the first one is another type).
 */
export function messageService(m: Message): Uint8Array | null {
  for (const a of m.args) {
    if (Buffer.from(a.name).toString('latin1') !== 'service') continue;
    return a.value.t === 'string' ? a.value.b : null;
  }
  return null;
}

/**
 * Verdicts (1 banned, 0 not) the ACK must carry, in message order; `judge` null = no verdict.
 * After a banned one, allowed ones carry nothing: HAProxy keeps the last value of the variable,
 * and a NOTIFY with one banned address must leave it banned.
 */
export function expectedVerdicts(
  messages: Message[],
  judge: (v: Value, service: Uint8Array | null) => 0 | 1 | null,
): number[] {
  const out: number[] = [];
  let banned = false;
  for (const m of messages) {
    const a = messageAddress(m);
    if (a === null) continue;
    const j = judge(a, messageService(m));
    if (j === null || (j === 0 && banned)) continue;
    if (j === 1) banned = true;
    out.push(j);
  }
  return out;
}

/** Bytes of the `SET-VAR <scope> banned UINT32 v` action (scope sess). */
export const BANNED_ACTION_BYTES = 12;

export interface AgentFrame {
  type: number;
  flags: number;
  sid: bigint;
  fid: bigint;
  /** The id bytes exactly as written (an ACK must echo the NOTIFY's). */
  idBytes: Buffer;
  payload: Buffer;
  /** 4 + LENGTH. */
  size: number;
}

/**
 * Split the agent's output into frames, strictly: LENGTH ≥ 7, a type the agent may send, flags
 * exactly FIN, valid id varints, and nothing left over. Throws on any violation.
 */
export function parseAgentOutput(buf: Buffer): AgentFrame[] {
  const frames: AgentFrame[] = [];
  let p = 0;
  while (p < buf.length) {
    if (buf.length - p < 4) throw new Error(`trailing ${buf.length - p} bytes`);
    const len = buf.readUInt32BE(p);
    if (len < 7) throw new Error(`frame of length ${len}`);
    if (buf.length - p - 4 < len) throw new Error(`frame of length ${len} truncated`);
    const end = p + 4 + len;
    const type = buf[p + 4];
    if (type !== 101 && type !== 102 && type !== 103) throw new Error(`agent frame type ${type}`);
    const flags = buf.readUInt32BE(p + 5);
    if (flags !== 1) throw new Error(`flags ${flags}`);
    const sid = readVarint(buf, p + 9, end);
    if (!sid) throw new Error('bad stream-id');
    const fid = readVarint(buf, sid.next, end);
    if (!fid) throw new Error('bad frame-id');
    frames.push({
      type,
      flags,
      sid: sid.v,
      fid: fid.v,
      idBytes: Buffer.from(buf.subarray(p + 9, fid.next)),
      payload: Buffer.from(buf.subarray(fid.next, end)),
      size: 4 + len,
    });
    p = end;
  }
  return frames;
}

export interface Action {
  type: number;
  scope: number;
  name: string;
  value: Value | null;
}

/** Decode an ACK's action list; throws unless it is well-formed and consumes the payload exactly. */
export function parseActions(b: Buffer): Action[] {
  const out: Action[] = [];
  let p = 0;
  while (p < b.length) {
    const type = b[p];
    const nargs = b[p + 1];
    if (type === 1 && nargs !== 3) throw new Error('SET-VAR without 3 args');
    if (type === 2 && nargs !== 2) throw new Error('UNSET-VAR without 2 args');
    if (type !== 1 && type !== 2) throw new Error(`action type ${type}`);
    if (p + 3 > b.length) throw new Error('truncated action');
    const scope = b[p + 2];
    if (scope > 4) throw new Error(`scope ${scope}`);
    const n = readVarint(b, p + 3, b.length);
    if (!n || n.next + Number(n.v) > b.length) throw new Error('bad variable name');
    const name = b.subarray(n.next, n.next + Number(n.v)).toString('latin1');
    p = n.next + Number(n.v);
    let value: Value | null = null;
    if (type === 1) {
      const r = readTypedValue(b, p);
      value = r.value;
      p = r.next;
    }
    out.push({ type, scope, name, value });
  }
  return out;
}

function readTypedValue(b: Buffer, p: number): { value: Value; next: number } {
  if (p >= b.length) throw new Error('missing value');
  const t = b[p] & 0x0f;
  p++;
  switch (t) {
    case 0:
      return { value: { t: 'null' }, next: p };
    case 1:
      return { value: { t: 'bool', v: (b[p - 1] & 0x10) !== 0 }, next: p };
    case 2:
    case 3:
    case 4:
    case 5: {
      const v = readVarint(b, p, b.length);
      if (!v) throw new Error('bad integer');
      const name = (['int32', 'uint32', 'int64', 'uint64'] as const)[t - 2];
      return { value: { t: name, v: v.v }, next: v.next };
    }
    case 8:
    case 9: {
      const n = readVarint(b, p, b.length);
      if (!n || n.next + Number(n.v) > b.length) throw new Error('bad string');
      const bytes = b.subarray(n.next, n.next + Number(n.v));
      return { value: { t: t === 8 ? 'string' : 'binary', b: bytes }, next: n.next + Number(n.v) };
    }
    default:
      throw new Error(`value type ${t}`);
  }
}

/** status-code of an AGENT-DISCONNECT payload. */
export function disconnectCode(payload: Buffer): number {
  const v = readKv(payload).get('status-code');
  if (v?.t !== 'uint32') throw new Error('no UINT32 status-code');
  return Number(v.v);
}

/** A KV-LIST (HELLO, DISCONNECT) as a map; throws when malformed. */
export function readKv(payload: Buffer): Map<string, Value> {
  const out = new Map<string, Value>();
  let p = 0;
  while (p < payload.length) {
    const k = readVarint(payload, p, payload.length);
    if (!k || k.next + Number(k.v) > payload.length) throw new Error('bad key');
    const key = payload.subarray(k.next, k.next + Number(k.v)).toString('latin1');
    const r = readTypedValue(payload, k.next + Number(k.v));
    out.set(key, r.value);
    p = r.next;
  }
  return out;
}
