import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { verifySignature } from '../../src/main/notify/sign.js';
import { sleep } from '../helpers/abuse.js';
import { api, type EdgeProcess, startEdge } from '../helpers/edge.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Webhooks of a running `edgeban serve`, told to a receiver in the test: signed batches, the
 * chat format for Slack/Matrix, a receiver that goes away and comes back (nothing lost within
 * the queue bound), and a queue that overflows (the oldest dropped and counted).
 */

const SECRET = 'test-webhook-secret';

interface Post {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A webhook receiver on `port`; `status` is what it answers. */
class Receiver {
  posts: Post[] = [];
  status = 200;
  private server: Server | null = null;
  constructor(readonly port: number) {}

  start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.posts.push({
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        res.statusCode = this.status;
        res.end('ok');
      });
    });
    const s = this.server;
    return new Promise((r) => s.listen(this.port, '127.0.0.1', () => r()));
  }

  stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return Promise.resolve();
    s.closeAllConnections();
    return new Promise((r) => s.close(() => r()));
  }

  /** Events of the posts to `path`, in the order received. */
  events(path: string): Record<string, unknown>[] {
    return this.posts
      .filter((p) => p.path === path)
      .flatMap((p) => (JSON.parse(p.body) as { events: Record<string, unknown>[] }).events);
  }
}

async function until(what: string, ok: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function metric(edge: EdgeProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  return line === undefined ? Number.NaN : Number(line.split(' ').at(-1));
}

describe('webhook notifications from edgeban serve', () => {
  let edge: EdgeProcess;
  let rx: Receiver;
  before(async () => {
    rx = new Receiver(await freePort());
    await rx.start();
    const dir = tempDir('edgeban-notify-');
    const base = `http://127.0.0.1:${rx.port}`;
    const config = join(dir, 'edgeban.yaml');
    writeFileSync(
      config,
      [
        'notify:',
        '  queue_size: 5',
        '  batch_delay: 100ms',
        '  timeout: 1s',
        '  webhooks:',
        `    - url: ${base}/json`,
        `      secret: ${SECRET}`,
        `    - url: ${base}/chat`,
        '      format: chat',
        '      events: [ban]',
        '',
      ].join('\n'),
    );
    edge = await startEdge(dir, { EDGEBAN_CONFIG: config });
    await edge.waitFor('"msg":"edgeban started"', 20_000);
  });
  after(async () => {
    edge?.proc.kill();
    await rx?.stop();
  });

  test('a ban and its unban reach the webhook as signed JSON batches', async () => {
    await api(edge, '/api/ban', { ip_address: '198.51.100.10', duration: 3600, reason: 'probe' });
    await api(edge, '/api/unban', { ip_address: '198.51.100.10' });
    await until('ban and unban at /json', () => rx.events('/json').length >= 2);
    const [ban, unban] = rx.events('/json');
    assert.equal(ban.type, 'ban');
    assert.equal(ban.ip_address, '198.51.100.10');
    assert.equal(ban.reason, 'probe');
    assert.equal(ban.jail, 'default');
    assert.equal(typeof ban.expires_at, 'string');
    assert.equal(unban.type, 'unban');
    assert.equal(unban.ip_address, '198.51.100.10');
    for (const p of rx.posts.filter((x) => x.path === '/json')) {
      const ts = Number(p.headers['x-edgeban-timestamp']);
      assert.ok(Math.abs(ts - Date.now() / 1000) < 60, 'timestamp is now');
      assert.ok(verifySignature(SECRET, ts, p.body, String(p.headers['x-edgeban-signature'])), 'signature');
      assert.ok(!verifySignature('another secret', ts, p.body, String(p.headers['x-edgeban-signature'])));
    }
  });

  test('the chat webhook gets {text} for bans only, unsigned', async () => {
    await until('a chat post', () => rx.posts.some((p) => p.path === '/chat'));
    const chat = rx.posts.filter((p) => p.path === '/chat');
    const text = chat.map((p) => (JSON.parse(p.body) as { text: string }).text).join('\n');
    assert.match(text, /198\.51\.100\.10 banned for 60 min/);
    assert.doesNotMatch(text, /unbanned/);
    assert.equal(chat[0].headers['x-edgeban-signature'], undefined);
  });

  test('a receiver that goes away gets what it missed when it comes back, within the queue bound', async () => {
    await rx.stop();
    rx.posts = [];
    for (let i = 1; i <= 3; i++)
      await api(edge, '/api/ban', { ip_address: `198.51.100.${20 + i}`, duration: 60 });
    await sleep(1500); // edgeban tries, fails, keeps them
    assert.ok((await metric(edge, 'edgeban_notify_failures_total')) >= 1, 'no failed POST counted');
    await rx.start();
    await until('the 3 missed bans', () => rx.events('/json').length >= 3, 15_000);
    assert.deepEqual(
      rx.events('/json').map((e) => e.ip_address),
      ['198.51.100.21', '198.51.100.22', '198.51.100.23'],
    );
  });

  test('past notify.queue_size the oldest are dropped and counted', async () => {
    await rx.stop();
    rx.posts = [];
    const before = await metric(edge, 'edgeban_notify_dropped_total');
    for (let i = 1; i <= 8; i++)
      await api(edge, '/api/ban', { ip_address: `198.51.100.${40 + i}`, duration: 60 });
    await rx.start();
    await until('5 queued bans', () => rx.events('/json').length >= 5, 15_000);
    await sleep(300);
    assert.deepEqual(
      rx.events('/json').map((e) => e.ip_address),
      ['198.51.100.44', '198.51.100.45', '198.51.100.46', '198.51.100.47', '198.51.100.48'],
    );
    assert.ok((await metric(edge, 'edgeban_notify_dropped_total')) - (before || 0) >= 3);
  });

  test('a receiver refusing a batch (4xx) has it dropped, and later ones still arrive', async () => {
    rx.status = 400;
    rx.posts = [];
    await api(edge, '/api/ban', { ip_address: '198.51.100.60', duration: 60 });
    await until('the refused post', () => rx.posts.some((p) => p.path === '/json'));
    rx.status = 200;
    rx.posts = [];
    await api(edge, '/api/ban', { ip_address: '198.51.100.61', duration: 60 });
    await until('the next post', () => rx.events('/json').length >= 1);
    assert.deepEqual(
      rx.events('/json').map((e) => e.ip_address),
      ['198.51.100.61'],
    );
  });
});
