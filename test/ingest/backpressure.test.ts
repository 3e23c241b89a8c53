import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { RecordingSink, startIngest } from './harness.js';

test('TCP senders are flow-controlled instead of shed when the pool falls behind', async () => {
  const sink = new RecordingSink();
  const { svc } = await startIngest(sink, (c) => {
    c.syslog.protocol = 'tcp';
    c.syslog.batch_size = 16;
    c.syslog.max_queued_batches = 2;
  });
  try {
    const n = 20_000;
    const data = Buffer.from(
      Array.from(
        { length: n },
        (_, i) => `<38>Nov 24 10:00:00 gw sshd[1]: Invalid user u from 10.1.${i >> 8}.${i & 255} port 22\n`,
      ).join(''),
    );
    await new Promise<void>((resolve, reject) => {
      const c = connect({ port: svc.tcpPort, host: '127.0.0.1' }, () => c.end(data));
      c.on('error', reject);
      c.on('close', () => resolve());
    });
    const end = Date.now() + 30_000;
    while (svc.stats.tcpLines < n && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await svc.drain();
    assert.equal(svc.stats.tcpLines, n);
    assert.equal(svc.stats.shedLines, 0);
    assert.equal(sink.failures.length, n);
  } finally {
    await svc.stop();
  }
});
