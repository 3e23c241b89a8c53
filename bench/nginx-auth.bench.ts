/**
 * Nginx auth_request: direct `/auth` requests to edgeban (its own process, one core) with wrk,
 * against a bare node:http server answering 200 in the same run; then wrk → Nginx (one worker)
 * with auth_request → edgeban, against the same Nginx without auth_request. Requests/s, p99 and
 * edgeban's CPU per request from /proc.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/net.js';
import { httpTemps, NginxProcess, nginxMain } from '../test/helpers/nginx.js';
import { findBinary } from '../test/helpers/peers.js';
import { cpuTicks, startReadyProcess } from './process.js';
import type { BenchReport, BenchRow } from './run.js';
import { wrk } from './wrk.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * wrk script: X-Original-IP from 10.77.0.0/16, of which edgeban bans every tenth address. The
 * requests are formatted once, so wrk's Lua is not what limits the rate.
 */
const LUA = `
local reqs = {}
local n = 0
init = function()
  math.randomseed(42)
  for k = 1, 4096 do
    local i = math.random(0, 65535)
    reqs[k] = wrk.format("GET", "/auth", { ["X-Original-IP"] = "10.77." .. math.floor(i / 256) .. "." .. (i % 256) })
  end
end
request = function()
  n = n % 4096 + 1
  return reqs[n]
end
`;

const BARE = `
import { createServer } from 'node:http';
const s = createServer((req, res) => { res.writeHead(200, ['Content-Length', '0']); res.end(); });
s.listen(0, '127.0.0.1', () => process.stdout.write('READY ' + s.address().port + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

export async function run(args: string[]): Promise<BenchReport> {
  if (!findBinary('wrk') || !findBinary('nginx'))
    return { bench: 'nginx-auth', rows: [], skipped: 'wrk or nginx not found: apt-get install wrk nginx' };
  const secs = args.includes('--quick') ? 3 : 8;
  const dir = mkdtempSync(join(tmpdir(), 'edgeban-bench-auth-'));
  const lua = join(dir, 'auth.lua');
  writeFileSync(lua, LUA);
  const bareJs = join(dir, 'bare.mjs');
  writeFileSync(bareJs, BARE);
  const rows: BenchRow[] = [];
  const edge = await startReadyProcess(join(here, 'http', 'auth-process.js'));
  const bare = await startReadyProcess(bareJs);
  let nginx: NginxProcess | null = null;
  try {
    // direct: edgeban's /auth on one core vs a node:http server that only answers 200
    const conns = 50;
    await wrk(`http://127.0.0.1:${edge.port}/auth`, conns, 1, lua);
    const t0 = cpuTicks(edge.proc.pid ?? 0);
    const direct = await wrk(`http://127.0.0.1:${edge.port}/auth`, conns, secs, lua);
    const edgeUs = ((cpuTicks(edge.proc.pid ?? 0) - t0) * 10_000) / direct.requests;
    await wrk(`http://127.0.0.1:${bare.port}/`, conns, 1);
    const base = await wrk(`http://127.0.0.1:${bare.port}/`, conns, secs);
    // the script's 4,096 addresses are drawn at random from a /16 of which every tenth is banned:
    // about 10 % of the answers must be 403 (a share far off means the answers are wrong)
    const deniedShare = direct.requests > 0 ? direct.non2xx / direct.requests : Number.NaN;
    const directCheck =
      Math.abs(deniedShare - 0.1) <= 0.03
        ? { verified: true, verification: `${(deniedShare * 100).toFixed(1)} % denied, ~10 % expected` }
        : {
            verified: false,
            verification: `${direct.non2xx} of ${direct.requests} denied, ~10 % expected`,
          };
    rows.push({
      name: `direct /auth, ${conns} keep-alive conns, 10% banned: requests/s`,
      value: direct.rps,
      unit: 'req/s',
      baseline: { name: 'node:http answering 200', value: base.rps },
      target: '≥ 50,000 on one core (issue #7)',
      notes: `${direct.non2xx} of ${direct.requests} denied (403)`,
      ...directCheck,
    });
    rows.push({
      name: `direct /auth, ${conns} conns: p99`,
      value: direct.p99ms,
      unit: 'ms',
      baseline: { name: 'node:http answering 200', value: base.p99ms },
      ...directCheck,
    });
    rows.push({ name: 'direct /auth: edgeban CPU per request', value: edgeUs, unit: 'µs', ...directCheck });

    // through Nginx: auth_request → edgeban vs the same Nginx without it
    const front = await freePort();
    const plain = await freePort();
    const ndir = NginxProcess.tempDir();
    writeFileSync(join(ndir, 'index.html'), 'ok\n');
    // nginx's workers run as an unprivileged user: the temp dir must be readable to them
    chmodSync(ndir, 0o755);
    const conf = `${nginxMain(ndir)}http {
${httpTemps(ndir)}
access_log off;
upstream edgeban { server 127.0.0.1:${edge.port}; keepalive 32; }
server {
  listen 127.0.0.1:${front};
  location / { auth_request /_edgeban; root ${ndir}; try_files /index.html =404; }
  location = /_edgeban {
    internal;
    proxy_pass http://edgeban/auth;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Original-IP $remote_addr;
  }
}
server {
  listen 127.0.0.1:${plain};
  location / { root ${ndir}; try_files /index.html =404; }
}
}
`;
    nginx = await NginxProcess.start(ndir, conf, [front, plain]);
    await wrk(`http://127.0.0.1:${front}/`, conns, 1);
    const e0 = cpuTicks(edge.proc.pid ?? 0);
    const withAuth = await wrk(`http://127.0.0.1:${front}/`, conns, secs);
    const viaUs = ((cpuTicks(edge.proc.pid ?? 0) - e0) * 10_000) / withAuth.requests;
    await wrk(`http://127.0.0.1:${plain}/`, conns, 1);
    const alone = await wrk(`http://127.0.0.1:${plain}/`, conns, secs);
    // nginx asks about 127.0.0.1, never banned: every answer must be the page
    const viaCheck =
      withAuth.non2xx === 0 && withAuth.requests > 0
        ? { verified: true, verification: `all ${withAuth.requests} responses 200` }
        : { verified: false, verification: `${withAuth.non2xx} of ${withAuth.requests} responses not 200` };
    rows.push({
      name: `Nginx (1 worker) + auth_request → edgeban, ${conns} conns: requests/s`,
      value: withAuth.rps,
      unit: 'req/s',
      baseline: { name: 'Nginx alone', value: alone.rps },
      notes: withAuth.non2xx || alone.non2xx ? `${withAuth.non2xx} / ${alone.non2xx} non-2xx` : 'all 200',
      ...viaCheck,
    });
    rows.push({
      name: `Nginx + auth_request, ${conns} conns: p99`,
      value: withAuth.p99ms,
      unit: 'ms',
      baseline: { name: 'Nginx alone', value: alone.p99ms },
      ...viaCheck,
    });
    rows.push({
      name: 'Nginx + auth_request: edgeban CPU per request',
      value: viaUs,
      unit: 'µs',
      ...viaCheck,
    });
  } finally {
    await nginx?.stop();
    edge.proc.kill('SIGTERM');
    bare.proc.kill('SIGTERM');
  }
  return { bench: 'nginx-auth', rows, params: { secs, wrk: '-t 1', nginx: 'worker_processes 1', cores: 2 } };
}
