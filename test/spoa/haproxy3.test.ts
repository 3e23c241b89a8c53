import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, type EdgeProcess, startEdge } from '../helpers/edge.js';
import { atLeast, frontGet, HaproxyProcess, haproxy3, privatePaths, tcpBanner } from '../helpers/haproxy.js';
import { metricTotal } from '../helpers/metrics.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

// The SPOP tests of haproxy.test.ts, against HAProxy 3.x (the 3.0 LTS and the newest Debian has,
// 3.1+ with `mode spop`) and a real `edgeban serve`.
const examples = join(import.meta.dirname, '..', '..', '..', 'examples', 'haproxy');

interface Ports {
  web: number;
  imap: number;
  smtp: number;
  agent: number;
  app: number;
  banner: number;
}

/** The shipped example for `version`, on private ports, its SPOE file written into `dir`. */
function exampleConfig(dir: string, version: string, ports: Ports, failClosed = false): string {
  const spoe = join(dir, 'edgeban-spoe.conf');
  writeFileSync(spoe, readFileSync(join(examples, `edgeban-spoe-${version}.conf`)));
  const map: Record<string, number> = {
    '8080': ports.web,
    '1143': ports.imap,
    '1587': ports.smtp,
    '8081': ports.app,
    '143': ports.banner,
    '587': ports.banner,
    '12345': ports.agent,
  };
  let cfg = privatePaths(readFileSync(join(examples, `haproxy-${version}.cfg`), 'utf8'), dir)
    .replaceAll('/etc/haproxy/edgeban-spoe.conf', spoe)
    .replace(/127\.0\.0\.1:(\d+)/g, (m, p: string) => (map[p] ? `127.0.0.1:${map[p]}` : m))
    .replace('dst_port 1587', `dst_port ${ports.smtp}`)
    .replace('check inter 5s', 'check inter 300ms')
    .replace('option spop-check', 'option spop-check\n    option log-health-checks');
  if (failClosed) {
    // the variants the example documents in its comments
    const http = '    #   http-request deny deny_status 503 if { var(txn.edgeban.error) -m found }';
    const tcp =
      '    # Fail-closed variant: tcp-request content reject if { var(txn.edgeban.error) -m found }';
    assert.ok(cfg.includes(http) && cfg.includes(tcp), 'the example lost its fail-closed comments');
    cfg = cfg
      .replace(http, http.replace('#   ', ''))
      .replace(tcp, '    tcp-request content reject if { var(txn.edgeban.error) -m found }');
  }
  return cfg;
}

/** `haproxy -c` on the example (edited by `edit`): its whole output, and whether it is valid. */
function check(bin: string, version: string, edit = (cfg: string) => cfg): { ok: boolean; out: string } {
  const dir = tempDir('edgeban-hap3c-');
  const ports = { web: 8080, imap: 1143, smtp: 1587, agent: 12345, app: 8081, banner: 143 };
  writeFileSync(join(dir, 'haproxy.cfg'), edit(exampleConfig(dir, version, ports)));
  // 3.x says "Configuration file is valid" only when verbose
  const r = spawnSync(bin, ['-c', '-V', '-f', join(dir, 'haproxy.cfg')], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

/** Poll until `fn` returns true (or time out, returning false). */
async function eventually(fn: () => Promise<boolean>, ms = 8000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const metric = (edge: EdgeProcess, name: string): Promise<number> => metricTotal(edge.metrics, name);

const BANNED = '127.0.0.2';
const CLEAN = '127.0.0.1';

function suite(which: 'lts' | 'latest'): void {
  const found = haproxy3(which);
  const hap3 = typeof found === 'string' ? null : found;
  const skip = typeof found === 'string' ? found : false;
  const label = which === 'lts' ? 'HAProxy 3.0 LTS' : 'HAProxy latest';
  if (skip) console.log(`# skipping the ${label} tests: ${skip}`);
  /** The example that goes with the HAProxy under test: 3.1 brought `mode spop`. */
  const flavour = hap3 && atLeast(hap3, 3, 1) ? '3.1' : '3.0';

  test(`${label}: the HAProxy 3.0 LTS example passes haproxy -c without warnings`, {
    skip: skip || (hap3 && atLeast(hap3, 3, 1) ? `HAProxy ${hap3.text}: the 3.0 example is for 3.0` : false),
  }, () => {
    const r = check(hap3?.bin ?? '', '3.0');
    assert.ok(r.ok, r.out);
    assert.match(r.out, /Configuration file is valid/);
    assert.doesNotMatch(r.out, /WARNING|ALERT/, r.out);
  });

  test(`${label}: the HAProxy 3.1+ example (mode spop) passes haproxy -c without warnings`, {
    skip: skip || (hap3 && !atLeast(hap3, 3, 1) ? `HAProxy ${hap3.text} has no mode spop (3.1+)` : false),
  }, () => {
    const r = check(hap3?.bin ?? '', '3.1');
    assert.ok(r.ok, r.out);
    assert.match(r.out, /Configuration file is valid/);
    assert.doesNotMatch(r.out, /WARNING|ALERT/, r.out);
  });

  test(`${label}: the HAProxy 3.1+ example is, but for mode spop, a config HAProxy 3.0 takes without warnings`, {
    skip: skip || (hap3 && atLeast(hap3, 3, 1) ? `HAProxy ${hap3.text} runs the whole example` : false),
  }, () => {
    // 3.0 has no "mode spop": this checks everything else in the 3.1 example, its SPOE file too
    const spop = check(hap3?.bin ?? '', '3.1');
    assert.ok(!spop.ok);
    assert.match(spop.out, /unknown proxy mode 'spop'/);
    const r = check(hap3?.bin ?? '', '3.1', (cfg) => cfg.replace('    mode spop\n', '    mode tcp\n'));
    assert.ok(r.ok, r.out);
    assert.match(r.out, /Configuration file is valid/);
    assert.doesNotMatch(r.out, /WARNING|ALERT/, r.out);
  });

  describe(`${label}: with a real HAProxy 3.x (${hap3?.text ?? 'none'}) and a real edgeban`, { skip }, () => {
    let edge: EdgeProcess;
    let open: HaproxyProcess;
    let closed: HaproxyProcess;
    const cwd = tempDir('edgeban-hap3-edge-');
    const ports: Ports = { web: 0, imap: 0, smtp: 0, agent: 0, app: 0, banner: 0 };
    const closedPorts: Ports = { web: 0, imap: 0, smtp: 0, agent: 0, app: 0, banner: 0 };
    const app = createHttpServer((_req, res) => res.end('app'));
    const banner = createServer((s) => {
      s.on('error', () => {});
      s.end('* OK IMAP ready\r\n');
    });

    before(async () => {
      edge = await startEdge(cwd);
      await edge.waitFor('"msg":"edgeban started"', 20_000);
      await api(edge, '/api/ban', { ip_address: BANNED, duration: 3600 });
      for (const k of Object.keys(ports) as (keyof Ports)[]) ports[k] = await freePort();
      ports.agent = edge.spoa;
      for (const k of Object.keys(closedPorts) as (keyof Ports)[]) closedPorts[k] = await freePort();
      closedPorts.agent = edge.spoa;
      closedPorts.app = ports.app;
      closedPorts.banner = ports.banner;
      await new Promise<void>((r) => banner.listen(ports.banner, '127.0.0.1', r));
      await new Promise<void>((r) => app.listen(ports.app, '127.0.0.1', r));
      const d1 = tempDir('edgeban-hap3-');
      open = await HaproxyProcess.start(
        { 'haproxy.cfg': exampleConfig(d1, flavour, ports) },
        [ports.web, ports.imap],
        [],
        hap3?.bin,
      );
      const d2 = tempDir('edgeban-hap3-closed-');
      closed = await HaproxyProcess.start(
        { 'haproxy.cfg': exampleConfig(d2, flavour, closedPorts, true) },
        [closedPorts.web, closedPorts.imap],
        [],
        hap3?.bin,
      );
      await open.waitForLog(/Health check for server edgeban-spoa\/edgeban1 succeeded|Layer7 check passed/);
    });

    after(async () => {
      await open?.stop();
      await closed?.stop();
      if (edge && edge.proc.exitCode === null) {
        edge.proc.kill('SIGTERM');
        await edge.exited;
      }
      banner.close();
      app.close();
    });

    test("edgeban passes HAProxy 3's spop-check health check", () => {
      assert.match(open.log, /Layer7 check passed/);
    });

    test('HTTP: a banned client gets 403, others 200, in both variants', async () => {
      for (const p of [ports.web, closedPorts.web]) {
        assert.equal((await frontGet(p, BANNED)).status, 403);
        const ok = await frontGet(p, CLEAN);
        assert.equal(ok.status, 200);
        assert.equal(ok.body, 'app');
      }
    });

    test('HTTP: banning and unbanning take effect on the next request', async () => {
      await api(edge, '/api/ban', { ip_address: '127.0.0.4', duration: 3600 });
      assert.equal((await frontGet(ports.web, '127.0.0.4')).status, 403);
      await api(edge, '/api/unban', { ip_address: '127.0.0.4' });
      assert.equal((await frontGet(ports.web, '127.0.0.4')).status, 200);
    });

    test('TCP: a banned client is cut before the backend speaks; others get the banner', async () => {
      for (const p of [ports, closedPorts]) {
        assert.equal(await tcpBanner(p.imap, BANNED), '');
        assert.match(await tcpBanner(p.imap, CLEAN), /^\* OK IMAP ready/);
        assert.match(await tcpBanner(p.smtp, '127.0.0.3'), /^\* OK/);
      }
    });

    test('the handshake and the NOTIFYs of HAProxy 3 caused no protocol error', async () => {
      assert.equal(await metric(edge, 'edgeban_spoa_protocol_errors_total'), 0, edge.out());
      // the counters reach Prometheus once a second
      assert.ok(await eventually(async () => (await metric(edge, 'edgeban_spoa_frames_total')) > 0, 3000));
    });

    test('agent killed and restarted under load: fail-open/closed while down, correct answers after', async () => {
      const spoa = edge.spoa;
      const results: { t: number; ip: string; status: number; variant: 'open' | 'closed' }[] = [];
      const failures: string[] = [];
      let running = true;
      const loop = async (variant: 'open' | 'closed', port: number, ip: string) => {
        while (running) {
          try {
            const r = await frontGet(port, ip);
            results.push({ t: Date.now(), ip, status: r.status, variant });
          } catch (err) {
            failures.push(`${variant} ${ip}: ${(err as Error).message}`);
          }
        }
      };
      const loops = [
        loop('open', ports.web, BANNED),
        loop('open', ports.web, CLEAN),
        loop('closed', closedPorts.web, BANNED),
        loop('closed', closedPorts.web, CLEAN),
      ];
      try {
        await new Promise((r) => setTimeout(r, 500));
        const killed = Date.now();
        edge.proc.kill('SIGKILL');
        await edge.exited;
        // down: the open variant lets everyone through, the closed one refuses everyone
        assert.ok(
          await eventually(async () =>
            results.some((r) => r.t > killed && r.variant === 'open' && r.ip === BANNED && r.status === 200),
          ),
          'fail-open never let the banned client through while edgeban was down',
        );
        assert.ok(
          await eventually(async () =>
            results.some((r) => r.t > killed && r.variant === 'closed' && r.status === 503),
          ),
          'fail-closed never refused while edgeban was down',
        );
        edge = await startEdge(cwd, { FAIL2BAN_SPOA_PORT: String(spoa) });
        await edge.waitFor('"msg":"edgeban started"', 20_000);
        // the ban is in the SQLite store of the same cwd; posting it again makes the test about
        // HAProxy's reconnection, not about persistence
        await api(edge, '/api/ban', { ip_address: BANNED, duration: 3600 });
        const restarted = Date.now();
        const recovered = (variant: 'open' | 'closed', ip: string, status: number) => async () =>
          results.some((r) => r.t > restarted && r.variant === variant && r.ip === ip && r.status === status);
        assert.ok(await eventually(recovered('open', BANNED, 403)), 'the open variant never banned again');
        assert.ok(
          await eventually(recovered('closed', BANNED, 403)),
          'the closed variant never banned again',
        );
        assert.ok(
          await eventually(recovered('closed', CLEAN, 200)),
          'the closed variant never let a client in again',
        );
        // settled: a full second of answers, all of them right
        await new Promise((r) => setTimeout(r, 500));
        const from = Date.now();
        await new Promise((r) => setTimeout(r, 1000));
        const settled = results.filter((r) => r.t > from);
        assert.ok(settled.length >= 8, `only ${settled.length} answers in a second`);
        const wrong = settled.filter((r) => r.status !== (r.ip === BANNED ? 403 : 200));
        assert.deepEqual(wrong, []);
      } finally {
        running = false;
        await Promise.all(loops);
      }
      assert.deepEqual(failures, []);
      // never, not even while edgeban was down, was the clean client refused by a ban
      assert.deepEqual(
        results.filter((r) => r.ip === CLEAN && r.status === 403),
        [],
      );
      assert.ok(results.every((r) => [200, 403, 503].includes(r.status)));
      assert.ok(results.filter((r) => r.variant === 'open').every((r) => r.status !== 503));
      assert.equal(await metric(edge, 'edgeban_spoa_protocol_errors_total'), 0, edge.out());
    });
  });
}

suite('lts');
suite('latest');
