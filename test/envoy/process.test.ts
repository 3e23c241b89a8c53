import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startEdge } from '../helpers/edge.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';
import { authClient, check, headersOf, request } from './helpers.js';

test('edgeban serve answers Envoy Check on envoy.port when envoy.enabled', async () => {
  const cwd = tempDir('edgeban-envoy-');
  writeFileSync(join(cwd, 'config.yaml'), 'blacklist: ["198.51.100.7"]\nenvoy:\n  deny_status: 403\n');
  const port = await freePort();
  const edge = await startEdge(cwd, {
    FAIL2BAN_ENVOY_ENABLED: 'true',
    FAIL2BAN_ENVOY_ADDRESS: '127.0.0.1',
    FAIL2BAN_ENVOY_PORT: String(port),
  });
  const client = authClient(port);
  try {
    await edge.waitFor('Envoy ext_authz server started', 15_000);
    const denied = await check(client, request('198.51.100.7'));
    assert.equal(denied.status?.code, 7);
    assert.equal(denied.denied_response?.status.code, 403);
    assert.equal(headersOf(denied.denied_response?.headers)['x-fail2ban-ip'], '198.51.100.7');
    const ok = await check(client, request('192.0.2.1'));
    assert.equal(ok.status?.code, 0);
    assert.equal(headersOf(ok.ok_response?.headers)['x-fail2ban-status'], 'allowed');
    // the counters reach /metrics within a flush interval
    let text = '';
    for (let i = 0; i < 100 && !/fail2ban_service_requests_total\{service="envoy"/.test(text); i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
    }
    assert.match(text, /fail2ban_service_requests_total\{service="envoy",status="allowed"\} 1/);
    assert.match(text, /fail2ban_service_requests_total\{service="envoy",status="denied"\} 1/);
    assert.match(text, /fail2ban_requests_total\{service="envoy",result="denied"\} 1/);
  } finally {
    client.close();
    edge.proc.kill('SIGTERM');
  }
  assert.equal(await edge.exited, 0);
});
