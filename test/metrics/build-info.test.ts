import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { buildCommit } from '../../src/main/metrics/build-info.js';
import { startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

function head(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

test('fail2ban_build_info names the commit npm run build recorded', {
  skip: head() === null && 'not a git checkout',
}, async () => {
  const commit = buildCommit({});
  assert.match(commit, new RegExp(`^${head()}(-dirty)?$`), 'dist/build-info.json does not hold HEAD');
  const edge = await startEdge(tempDir('edgeban-build-info-'), { EDGEBAN_COMMIT: '' });
  try {
    await edge.waitFor('"msg":"edgeban started"', 20_000);
    const text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('fail2ban_build_info{'));
    assert.ok(line?.includes(`commit="${commit}"`), line);
  } finally {
    edge.proc.kill();
  }
});

test('EDGEBAN_COMMIT wins over the build record; a missing record reads unknown', () => {
  assert.equal(buildCommit({ EDGEBAN_COMMIT: 'abc1234' }), 'abc1234');
  assert.equal(buildCommit({}, '/nonexistent/build-info.json'), 'unknown');
});
