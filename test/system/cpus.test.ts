import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MAX_AUTO_WORKERS, usableCpus, workerCount } from '../../src/main/system/cpus.js';
import { tempDir } from '../helpers/tmp.js';

function fakeRoot(files: Record<string, string>): string {
  const root = tempDir('edgeban-cgroup-');
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), content);
  }
  return root;
}

test('cgroup v2 cpu.max limits the workers (quota rounded up)', () => {
  const root = fakeRoot({ 'system.slice/edge.service/cpu.max': '150000 100000\n' });
  assert.equal(
    usableCpus({ cgroupRoot: root, procSelfCgroup: '0::/system.slice/edge.service\n', affinity: 8 }),
    2,
  );
});

test('cgroup v2 "max" means no quota: affinity decides', () => {
  const root = fakeRoot({ 'a/cpu.max': 'max 100000\n' });
  assert.equal(usableCpus({ cgroupRoot: root, procSelfCgroup: '0::/a\n', affinity: 6 }), 6);
});

test("cgroup v2: a parent's tighter quota applies", () => {
  const root = fakeRoot({ 'kube/cpu.max': '100000 100000', 'kube/pod/cpu.max': 'max 100000' });
  assert.equal(usableCpus({ cgroupRoot: root, procSelfCgroup: '0::/kube/pod\n', affinity: 16 }), 1);
});

test('cgroup v1 cfs quota and period', () => {
  const root = fakeRoot({
    'cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '300000',
    'cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000',
  });
  const self = '12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n';
  assert.equal(usableCpus({ cgroupRoot: root, procSelfCgroup: self, affinity: 32 }), 3);
  const unlimited = fakeRoot({
    'cpu,cpuacct/x/cpu.cfs_quota_us': '-1',
    'cpu,cpuacct/x/cpu.cfs_period_us': '100000',
  });
  assert.equal(usableCpus({ cgroupRoot: unlimited, procSelfCgroup: '4:cpu,cpuacct:/x\n', affinity: 4 }), 4);
});

test('affinity smaller than the quota wins; never below 1; workers.count overrides', () => {
  const root = fakeRoot({ 'cpu.max': '800000 100000' });
  assert.equal(usableCpus({ cgroupRoot: root, procSelfCgroup: '0::/\n', affinity: 2 }), 2);
  const tiny = fakeRoot({ 'cpu.max': '1000 100000' });
  assert.equal(usableCpus({ cgroupRoot: tiny, procSelfCgroup: '0::/\n', affinity: 2 }), 1);
  assert.equal(workerCount(5, { cgroupRoot: tiny, procSelfCgroup: '0::/\n', affinity: 2 }), 5);
  assert.equal(workerCount(0, { cgroupRoot: tiny, procSelfCgroup: '0::/\n', affinity: 2 }), 1);
});

test('the pool sized from the CPUs stops at MAX_AUTO_WORKERS; workers.count may go past it', () => {
  const none = fakeRoot({});
  const many = { cgroupRoot: none, procSelfCgroup: '0::/\n', affinity: 64 };
  assert.equal(usableCpus(many), 64);
  assert.equal(workerCount(0, many), MAX_AUTO_WORKERS);
  assert.equal(workerCount(0, { ...many, affinity: 3 }), 3);
  assert.equal(workerCount(12, many), 12);
});
