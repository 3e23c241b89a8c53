import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type EdgeProcess, startEdge } from '../helpers/edge.js';
import { tempDir } from '../helpers/tmp.js';

type JailJson = Record<string, unknown> & { name: string; origin: string };

async function call(edge: EdgeProcess, method: string, path: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${edge.http}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const jails = async (edge: EdgeProcess) =>
  ((await call(edge, 'GET', '/api/jails')).json.jails as JailJson[]).map(
    (j) => `${j.name}:${j.origin}:${String(j.max_attempts)}`,
  );

const config = (sshdAttempts: number, web: boolean) =>
  `jails:\n  sshd:\n    patterns: [sshd-*]\n    max_attempts: ${sshdAttempts}\n` +
  (web ? '  web:\n    patterns: [nginx-*]\n    services: [http]\n' : '');

async function hup(edge: EdgeProcess, n: number): Promise<void> {
  edge.proc.kill('SIGHUP');
  const end = Date.now() + 10_000;
  while ((edge.out().match(/"msg":"configuration reloaded"/g) ?? []).length < n) {
    if (Date.now() > end) throw new Error(`no reload logged:\n${edge.out()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('SIGHUP: the file jails are replaced, the database jails stay over them', async () => {
  const cwd = tempDir('edgeban-jails-hup-');
  writeFileSync(join(cwd, 'config.yaml'), config(3, false));
  const edge = await startEdge(cwd);
  await edge.waitFor('"msg":"spoa started"', 15_000);
  assert.deepEqual(await jails(edge), ['sshd:config:3', 'default:default:5']);
  const made = await call(edge, 'POST', '/api/jails', {
    name: 'mail',
    patterns: ['dovecot*'],
    max_attempts: 2,
  });
  assert.equal(made.status, 201);
  writeFileSync(join(cwd, 'config.yaml'), config(4, true));
  await hup(edge, 1);
  assert.deepEqual(await jails(edge), [
    'mail:database:2',
    'sshd:config:4',
    'web:config:5',
    'default:default:5',
  ]);
  // a reload that changes nothing in the file keeps the same list
  await hup(edge, 2);
  assert.deepEqual(await jails(edge), [
    'mail:database:2',
    'sshd:config:4',
    'web:config:5',
    'default:default:5',
  ]);
  edge.proc.kill('SIGTERM');
  assert.equal(await edge.exited, 0);
});

test('SIGHUP without a database: the config file jails are all there is', async () => {
  const cwd = tempDir('edgeban-jails-hup-nodb-');
  writeFileSync(join(cwd, 'config.yaml'), config(3, true));
  const edge = await startEdge(cwd, { FAIL2BAN_DATABASE_ENABLED: 'false' });
  await edge.waitFor('"msg":"spoa started"', 15_000);
  assert.deepEqual(await jails(edge), ['sshd:config:3', 'web:config:5', 'default:default:5']);
  writeFileSync(join(cwd, 'config.yaml'), config(6, false));
  await hup(edge, 1);
  assert.deepEqual(await jails(edge), ['sshd:config:6', 'default:default:5']);
  // a bad file is refused and the running jails stay
  writeFileSync(join(cwd, 'config.yaml'), 'jails:\n  sshd:\n    max_attempts: many\n');
  edge.proc.kill('SIGHUP');
  await edge.waitFor('configuration reload rejected', 10_000);
  assert.match(edge.out(), /jails\.sshd\.max_attempts: expected a number/);
  assert.deepEqual(await jails(edge), ['sshd:config:6', 'default:default:5']);
  edge.proc.kill('SIGTERM');
  assert.equal(await edge.exited, 0);
});
