import { EdgebanError } from '../errors.js';

/** The request named no service: every ban counts, scoped or not. */
export const SERVICE_ANY = -1;
/** The request named a service that no jail scopes: only the bans that cover every service count. */
export const SERVICE_UNSCOPED = -2;
/** Distinct service names a process can scope bans to (each has its own table). */
export const MAX_SERVICES = 32;
/**
 * `LookupResult.service` of a request that named no service and was denied by a scoped ban: some
 * service's (which one is not looked for: that would cost a probe per service).
 */
export const SERVICE_SOME = MAX_SERVICES;
/** Longest service name. */
export const MAX_SERVICE_NAME = 32;

const NAME_RE = /^[a-z0-9][a-z0-9_.-]*$/;

/** A service name as jails and proxies write it: lower case, `[a-z0-9_.-]`, 1–32 characters; null when it is not one. */
export function normalizeService(name: string): string | null {
  const n = name.trim().toLowerCase();
  return n.length > 0 && n.length <= MAX_SERVICE_NAME && NAME_RE.test(n) ? n : null;
}

/**
 * The service names bans are scoped to, as small ids (0…MAX_SERVICES−1). An id is given once and
 * kept for the process's life, so a lookup never sees an id change meaning. The proxies resolve
 * the name a request carries with `lookup` or, straight from a frame, `lookupBytes` (no
 * allocation); a name no jail scopes resolves to SERVICE_UNSCOPED.
 */
export class ServiceNames {
  private readonly names: string[] = [];
  private readonly bytes: Uint8Array[] = [];
  private readonly ids = new Map<string, number>();

  get size(): number {
    return this.names.length;
  }

  /** The id of `name`, given now if it has none. Throws past MAX_SERVICES names or for a bad name. */
  register(name: string): number {
    const n = normalizeService(name);
    if (n === null) throw new EdgebanError('E_BANTABLE', `invalid service name ${JSON.stringify(name)}`);
    const known = this.ids.get(n);
    if (known !== undefined) return known;
    if (this.names.length >= MAX_SERVICES)
      throw new EdgebanError('E_BANTABLE', `more than ${MAX_SERVICES} distinct services`);
    const id = this.names.length;
    this.names.push(n);
    this.bytes.push(Buffer.from(n, 'latin1'));
    this.ids.set(n, id);
    return id;
  }

  /** Id of a known name (any case), SERVICE_UNSCOPED for an unknown one, SERVICE_ANY for ''. */
  lookup(name: string): number {
    if (name.length === 0) return SERVICE_ANY;
    const direct = this.ids.get(name);
    if (direct !== undefined) return direct;
    return this.ids.get(name.trim().toLowerCase()) ?? SERVICE_UNSCOPED;
  }

  /** As `lookup`, for `len` bytes of `buf` at `off` (ASCII, compared without regard to case). */
  lookupBytes(buf: Uint8Array, off: number, len: number): number {
    if (len === 0) return SERVICE_ANY;
    for (let id = 0; id < this.bytes.length; id++) {
      const b = this.bytes[id];
      if (b.length !== len) continue;
      let i = 0;
      while (i < len) {
        let c = buf[off + i];
        if (c >= 65 && c <= 90) c += 32;
        if (c !== b[i]) break;
        i++;
      }
      if (i === len) return id;
    }
    return SERVICE_UNSCOPED;
  }

  name(id: number): string {
    return this.names[id] ?? '';
  }

  list(): readonly string[] {
    return this.names;
  }
}
