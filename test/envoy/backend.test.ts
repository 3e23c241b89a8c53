import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { GrpcBackend } from '../../src/main/envoy/backend.js';
import { HealthService } from '../../src/main/envoy/health.js';
import { AUTH_SERVICE } from '../../src/main/envoy/names.js';
import { GRPC_SERVER_OPTIONS } from '../../src/main/envoy/server.js';

function backend(socket: string): GrpcBackend {
  return new GrpcBackend({
    socket,
    health: new HealthService(['', AUTH_SERVICE]),
    options: GRPC_SERVER_OPTIONS,
    log: pino({ level: 'silent' }),
  });
}

describe('the health and reflection backend', () => {
  test('starts once for every caller and listens on its socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeban-backend-'));
    const b = backend(join(dir, 'grpc.sock'));
    try {
      assert.equal(b.started, false);
      const first = b.ready();
      assert.equal(b.ready(), first, 'callers that arrive together share one start');
      await first;
      assert.equal(b.started, true);
      assert.ok(existsSync(join(dir, 'grpc.sock')));
    } finally {
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a start that fails is not tried again by every call, and a stopped backend never starts', async () => {
    // a socket in a folder that does not exist cannot be bound
    const b = backend(join(tmpdir(), 'edgeban-no-such-folder', String(process.pid), 'grpc.sock'));
    const first = b.ready();
    await assert.rejects(first);
    assert.equal(b.ready(), first, 'the failure stands for a while: no second start');
    assert.equal(b.started, false);
    await b.close();
    const dir = mkdtempSync(join(tmpdir(), 'edgeban-backend-'));
    const closed = backend(join(dir, 'grpc.sock'));
    await closed.close();
    await assert.rejects(closed.ready(), /shutting down/);
    assert.equal(existsSync(join(dir, 'grpc.sock')), false);
    rmSync(dir, { recursive: true, force: true });
  });
});
