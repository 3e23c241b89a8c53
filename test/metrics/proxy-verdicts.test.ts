import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { api, type EdgeProcess, startEdge } from '../helpers/edge.js';
import { frontGet, type HaproxyProcess, startExampleHaproxy } from '../helpers/haproxy.js';
import { freePort } from '../helpers/net.js';
import { httpTemps, NginxProcess, nginxMain } from '../helpers/nginx.js';
import { peerMissing } from '../helpers/peers.js';
import { tempDir } from '../helpers/tmp.js';

const skip = peerMissing('haproxy') || peerMissing('nginx');
const nginxExample = readFileSync(
  join(import.meta.dirname, '..', '..', '..', 'examples', 'nginx', 'edgeban-http.conf'),
  'utf8',
);

/** `name{labels} value` lines of one metric, as label text → value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    out.set(line.slice(name.length + 1, close), Number(line.slice(close + 2)));
  }
  return out;
}

describe('proxy metrics: the same verdict statuses for HAProxy, Nginx and Envoy, and µs latency buckets', {
  skip,
}, () => {
  let edge: EdgeProcess;
  let hap: HaproxyProcess;
  let nginx: NginxProcess;
  let app: Server;
  const ports = { web: 0, app: 0, agent: 0, imap: 0, smtp: 0, mail: 0, nginx: 0 };
  const from = (a: string) => new Agent({ localAddress: a });
  const agents = { banned: from('127.0.0.2'), other: from('127.0.0.1') };

  before(async () => {
    edge = await startEdge(tempDir('edgeban-proxy-metrics-'), {
      FAIL2BAN_DATABASE_ENABLED: 'false',
      FAIL2BAN_ENVOY_ENABLED: 'true',
    });
    await edge.waitFor('edgeban started', 20_000);
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    ports.agent = edge.spoa;
    app = createServer((_req, res) => res.end('app'));
    await new Promise<void>((r) => app.listen(ports.app, '127.0.0.1', r));
    hap = await startExampleHaproxy(ports);
    const dir = NginxProcess.tempDir();
    const site = nginxExample
      .replace('server 127.0.0.1:8888;', `server 127.0.0.1:${edge.http};`)
      .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${ports.app};`)
      .replace('listen 80;', `listen 127.0.0.1:${ports.nginx};`);
    nginx = await NginxProcess.start(
      dir,
      `${nginxMain(dir)}http {\n${httpTemps(dir)}\naccess_log off;\n${site}\n}\n`,
      [ports.nginx],
    );
  });
  after(async () => {
    await nginx?.stop();
    await hap?.stop();
    app?.close();
    await agents.banned.close();
    await agents.other.close();
    edge?.proc.kill('SIGTERM');
    await edge?.exited;
  });

  test('one ban seen through HAProxy and through Nginx: allowed and denied counted alike, lowest buckets moved', async () => {
    const before = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
    const zero = samples(before, 'fail2ban_service_request_duration_seconds_count');
    assert.equal(zero.get('service="haproxy"') ?? 0, 0);
    assert.equal(zero.get('service="nginx"') ?? 0, 0);

    await api(edge, '/api/ban', { ip_address: '127.0.0.2', reason: 'metrics test' });
    assert.equal((await frontGet(ports.web, '127.0.0.2')).status, 403);
    assert.equal((await frontGet(ports.web, '127.0.0.1')).status, 200);
    const viaNginx = async (a: Agent) => {
      const r = await request(`http://127.0.0.1:${ports.nginx}/page`, { dispatcher: a });
      await r.body.text();
      return r.statusCode;
    };
    assert.equal(await viaNginx(agents.banned), 403);
    assert.equal(await viaNginx(agents.other), 200);

    const text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
    const req = samples(text, 'fail2ban_service_requests_total');
    const statuses = (service: string) =>
      [...req.keys()]
        .filter((k) => k.startsWith(`service="${service}"`))
        .map((k) => /status="([a-z_]+)"/.exec(k)?.[1])
        .sort();
    assert.deepEqual(statuses('haproxy'), ['allowed', 'denied', 'error']);
    assert.deepEqual(statuses('nginx'), ['allowed', 'denied', 'error']);
    assert.deepEqual(statuses('envoy'), ['allowed', 'denied', 'error']);
    for (const service of ['haproxy', 'nginx']) {
      assert.ok((req.get(`service="${service}",status="denied"`) ?? 0) >= 1, `${service} denied`);
      assert.ok((req.get(`service="${service}",status="allowed"`) ?? 0) >= 1, `${service} allowed`);
      assert.equal(req.get(`service="${service}",status="error"`), 0, `${service} error`);
    }
    assert.equal(req.has('service="haproxy",status="ok"'), false);

    const buckets = samples(text, 'fail2ban_service_request_duration_seconds_bucket');
    for (const service of ['haproxy', 'nginx']) {
      const count =
        samples(text, 'fail2ban_service_request_duration_seconds_count').get(`service="${service}"`) ?? 0;
      assert.ok(count >= 2, `${service}: ${count} timed answers`);
      // the smallest bucket is 10 µs so answers from memory are resolved; how fast they were is
      // the benchmarks' business, not a test's (a loaded CI machine may take a millisecond)
      assert.ok(buckets.has(`le="0.00001",service="${service}"`), `${service} 10 µs bucket`);
      assert.ok(buckets.has(`le="0.001",service="${service}"`), `${service} 1 ms bucket`);
      const ladder = [...buckets.entries()]
        .filter(([k]) => k.endsWith(`service="${service}"`))
        .map(([k, v]) => {
          const le = /le="([^"]+)"/.exec(k)?.[1] ?? '';
          return [le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), v] as const;
        })
        .sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < ladder.length; i++) {
        assert.ok((ladder[i]?.[1] ?? 0) >= (ladder[i - 1]?.[1] ?? 0), `${service}: buckets cumulative`);
      }
      assert.equal(buckets.get(`le="+Inf",service="${service}"`), count);
      assert.equal(buckets.has(`le="0.25",service="${service}"`), false, 'no bucket past 100 ms but +Inf');
    }
  });
});
