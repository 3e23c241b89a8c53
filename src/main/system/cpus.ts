import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

export interface CpuProbe {
  /** Where cgroup filesystems are mounted (default /sys/fs/cgroup). */
  cgroupRoot?: string;
  /** Contents of /proc/self/cgroup (default: read it). */
  procSelfCgroup?: string;
  /** CPUs this process may run on by affinity (default os.availableParallelism()). */
  affinity?: number;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * CPUs the process may really use: the smaller of its CPU affinity and its cgroup quota
 * (v2 `cpu.max`, v1 `cpu.cfs_quota_us / cpu.cfs_period_us`), at least 1. A container limited to
 * 1.5 CPUs gets 2 (quota rounded up: the last worker still gets half a CPU).
 */
export function usableCpus(probe: CpuProbe = {}): number {
  const root = probe.cgroupRoot ?? '/sys/fs/cgroup';
  const affinity = probe.affinity ?? availableParallelism();
  const self = probe.procSelfCgroup ?? read('/proc/self/cgroup') ?? '';
  let quota = Number.POSITIVE_INFINITY;
  for (const line of self.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controllers === '') {
      // cgroup v2: walk from our cgroup up to the root; the tightest cpu.max wins
      let p = path;
      for (;;) {
        const max = read(join(root, p, 'cpu.max'));
        if (max) {
          const [q, period] = max.split(/\s+/);
          if (q !== 'max' && Number(period) > 0) quota = Math.min(quota, Number(q) / Number(period));
        }
        if (p === '/' || p === '') break;
        p = p.slice(0, p.lastIndexOf('/')) || '/';
      }
    } else if (controllers.split(',').includes('cpu')) {
      for (const mount of ['cpu,cpuacct', 'cpu', 'cpuacct,cpu']) {
        const q =
          read(join(root, mount, path, 'cpu.cfs_quota_us')) ?? read(join(root, mount, 'cpu.cfs_quota_us'));
        const period =
          read(join(root, mount, path, 'cpu.cfs_period_us')) ?? read(join(root, mount, 'cpu.cfs_period_us'));
        if (q !== null && period !== null) {
          if (Number(q) > 0 && Number(period) > 0) quota = Math.min(quota, Number(q) / Number(period));
          break;
        }
      }
    }
  }
  return Math.max(1, Math.min(affinity, Math.ceil(quota)));
}

/**
 * Most matcher workers sized from the CPUs: each is a V8 isolate of its own (about 10 MB of RSS
 * idle), and past this many the syslog socket and the engine on the main thread are the limit,
 * not matching. `workers.count` may still ask for more.
 */
export const MAX_AUTO_WORKERS = 8;

/**
 * Worker threads for the matcher pool: `workers.count`, or when it is 0 the usable CPUs, at
 * least 1 and at most MAX_AUTO_WORKERS.
 */
export function workerCount(configured: number, probe?: CpuProbe): number {
  return configured > 0 ? configured : Math.min(MAX_AUTO_WORKERS, usableCpus(probe));
}
