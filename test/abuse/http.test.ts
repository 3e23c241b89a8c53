import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type EdgeProcess, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

/** Hostile HTTP clients against a running `edgeban serve`: each bounded, each checks others are served. */

let edge: EdgeProcess;
const basic = (p: string) => `Basic ${Buffer.from(`admin:${p}`).toString('base64')}`;

before(async () => {
  edge = await startEdge(tempDir('edgeban-abuse-http-'), {
    FAIL2BAN_API_BASIC_AUTH_ENABLED: 'true',
    FAIL2BAN_API_BASIC_AUTH_PASSWORD: 'right-horse-battery',
    FAIL2BAN_API_RATE_LIMITING_REQUESTS_PER_MINUTE: '20',
    FAIL2BAN_NGINX_READ_TIMEOUT: '2s',
    FAIL2BAN_NGINX_WRITE_TIMEOUT: '2s',
    FAIL2BAN_WORKERS_COUNT: '1',
  });
  await edge.waitFor(/HTTP listening/);
});
after(async () => {
  if (edge.proc.exitCode === null) edge.proc.kill('SIGTERM');
  await edge.exited;
});

const url = (path: string) => `http://127.0.0.1:${edge.http}${path}`;

/** Another client is answered promptly while an attack goes on. */
async function othersServed(): Promise<void> {
  const r = await fetch(url('/health'), { signal: AbortSignal.timeout(2000) });
  assert.equal(r.status, 200);
}

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(edge.http, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

/** Resolves with how the server ended the connection, or 'open' after `ms`. */
function closedWithin(s: Socket, ms: number): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve('open'), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve('closed');
    });
  });
}

describe('abuse of the HTTP port', () => {
  test('slowloris: trickled headers are cut at the read timeout; others are served meanwhile', async () => {
    const s = await open();
    s.on('error', () => {});
    s.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => s.writable && s.write('X-Slow: 1\r\n'), 300);
    const closed = closedWithin(s, 8000);
    await othersServed();
    const how = await closed;
    clearInterval(drip);
    s.destroy();
    assert.equal(how, 'closed', 'the server ended the trickling connection');
    await othersServed();
  });

  test('oversized headers get 431, an oversized body 413, and the process keeps serving', async () => {
    const big = await fetch(url('/api/temp-bans'), { headers: { 'x-big': 'a'.repeat(64 * 1024) } }).catch(
      (e: Error) => e,
    );
    if (big instanceof Response) assert.equal(big.status, 431);
    else assert.ok(big instanceof Error, 'refused at the socket');
    const body = await fetch(url('/api/ban'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: basic('right-horse-battery') },
      body: JSON.stringify({ ip_address: '203.0.113.1', reason: 'x'.repeat(200 * 1024) }),
    });
    assert.equal(body.status, 413);
    await body.arrayBuffer();
    await othersServed();
  });

  test('a peer that never reads a large response is dropped at the write timeout', async () => {
    const s = await open();
    s.on('error', () => {});
    s.pause();
    // the docs bundle is over a megabyte: twenty of them pipelined overflow every socket buffer
    const req =
      'GET /api/docs/static/swagger-ui-bundle.js HTTP/1.1\r\nHost: x\r\nAuthorization: ' +
      `${basic('right-horse-battery')}\r\n\r\n`;
    s.write(req.repeat(20));
    await new Promise((r) => setTimeout(r, 5000)); // write timeout (2 s) and some
    await othersServed();
    // a paused socket cannot see the close: read what the kernel holds, then the end must come
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
    });
    const closed = closedWithin(s, 5000);
    s.resume();
    const how = await closed;
    s.destroy();
    assert.equal(how, 'closed', 'the server dropped the connection');
    assert.ok(got < 20 * 1_000_000, `only what was buffered arrived (${got} bytes)`);
  });

  // last: it leaves 127.0.0.1 in the failed-login back-off
  test('credential guessing: 429 with Retry-After after a few tries, and few log lines', async () => {
    const before = edge.out().split('\n').length;
    const codes = new Map<number, number>();
    let retryAfter = '';
    for (let i = 0; i < 200; i++) {
      const r = await fetch(url('/api/temp-bans'), { headers: { authorization: basic(`guess-${i}`) } });
      await r.arrayBuffer();
      codes.set(r.status, (codes.get(r.status) ?? 0) + 1);
      if (r.status === 429) retryAfter = r.headers.get('retry-after') ?? '';
    }
    assert.ok((codes.get(401) ?? 0) <= 5, `401s: ${codes.get(401)}`);
    assert.ok((codes.get(429) ?? 0) >= 195, `429s: ${codes.get(429)}`);
    assert.ok(Number(retryAfter) >= 1, `Retry-After: ${retryAfter}`);
    const lines = edge
      .out()
      .split('\n')
      .slice(before - 1)
      .filter((l) => /authentication/i.test(l));
    assert.ok(lines.length <= 3, `${lines.length} log lines:\n${lines.join('\n')}`);
    await othersServed();
  });
});
