import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  dovecotLine,
  EDGEBAN_BIN,
  type EdgeProcess,
  sendLines,
  spopBanned,
  startEdge,
} from '../helpers/edge.js';
import { freePort } from '../helpers/net.js';
import { tempDir } from '../helpers/tmp.js';

const RSYSLOGD = '/usr/sbin/rsyslogd';
const SYSLOG_DOC = join(EDGEBAN_BIN, '..', '..', 'docs', 'syslog.md');

/** The rsyslog forwarding line docs/syslog.md documents, so the snippet itself is what runs. */
function docSnippet(): string {
  const m = /^# rsyslog: .*\n(\*\.\* action\(type="omfwd"[^\n]*\))$/m.exec(readFileSync(SYSLOG_DOC, 'utf8'));
  assert.ok(m, 'docs/syslog.md has the rsyslog forwarding snippet');
  return m[1];
}

/** The snippet aimed at the test's edge: its port, and TCP when asked. */
function forwardTo(port: number, protocol: 'udp' | 'tcp'): string {
  const line = docSnippet();
  assert.match(line, /port="514"/);
  assert.match(line, /protocol="udp"/);
  return line.replace('port="514"', `port="${port}"`).replace('protocol="udp"', `protocol="${protocol}"`);
}

interface Rsyslog {
  proc: ChildProcess;
  out(): string;
  stop(): Promise<void>;
}

const started: Rsyslog[] = [];
after(async () => {
  for (const r of started) await r.stop();
});

/** A private rsyslogd in `dir` (no system sockets, no kernel log) with `conf` as its whole config. */
async function startRsyslog(dir: string, conf: string): Promise<Rsyslog> {
  const file = join(dir, 'rsyslog.conf');
  const pidFile = join(dir, 'rsyslogd.pid');
  writeFileSync(file, `global(workDirectory="${dir}")\n${conf}\n`);
  const proc = spawn(RSYSLOGD, ['-n', '-f', file, '-i', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const r: Rsyslog = {
    proc,
    out: () => out,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  started.push(r);
  // running once it wrote its pid file (or failed: then say why)
  for (let i = 0; i < 200 && !existsSync(pidFile); i++) {
    if (proc.exitCode !== null) break;
    await new Promise((res) => setTimeout(res, 25));
  }
  assert.ok(existsSync(pidFile) && proc.exitCode === null, `rsyslogd did not start:\n${out}`);
  return r;
}

async function waitBanned(edge: EdgeProcess, ip: string, what: () => string): Promise<void> {
  const end = Date.now() + 10_000;
  while ((await spopBanned(edge.spoa, ip)) !== 1) {
    if (Date.now() > end)
      throw new Error(`${ip} never banned\nedgeban:\n${edge.out()}\nrsyslogd:\n${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** edgeban_syslog_lines_total for one transport, from the metrics port. */
async function linesOver(edge: EdgeProcess, transport: 'udp' | 'tcp'): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${edge.metrics}/metrics`)).text();
  const m = new RegExp(`^edgeban_syslog_lines_total\\{transport="${transport}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

const missing = existsSync(RSYSLOGD) ? false : `${RSYSLOGD} is not installed (apt-get install rsyslog)`;
if (missing) console.log(`# skipping the rsyslog forwarding tests: ${missing}`);

describe('rsyslog forwarding with the documented snippet bans the address', { skip: missing }, () => {
  let edge: EdgeProcess;
  before(async () => {
    edge = await startEdge(tempDir('edgeban-rsyslog-'), {
      FAIL2BAN_DATABASE_ENABLED: 'false',
      FAIL2BAN_SYSLOG_PROTOCOL: 'both',
    });
    await edge.waitFor('edgeban started');
  });
  after(async () => {
    edge?.proc.kill('SIGTERM');
    await edge?.exited;
  });

  test('the snippet is what docs/syslog.md says: omfwd to 127.0.0.1:514 over UDP', () => {
    assert.equal(docSnippet(), '*.* action(type="omfwd" target="127.0.0.1" port="514" protocol="udp")');
  });

  test('UDP: dovecot lines received by rsyslog (imudp) reach edgeban and ban the client', async () => {
    const dir = tempDir('edgeban-rsyslog-udp-');
    const inPort = await freePort();
    const rs = await startRsyslog(
      dir,
      [
        'module(load="imudp")',
        `input(type="imudp" address="127.0.0.1" port="${inPort}")`,
        forwardTo(edge.syslog, 'udp'),
      ].join('\n'),
    );
    const ip = '198.51.100.61';
    assert.equal(await spopBanned(edge.spoa, ip), 0);
    const udpBefore = await linesOver(edge, 'udp');
    // imudp may bind a moment after the pid file: resend until the ban shows
    const end = Date.now() + 10_000;
    while ((await spopBanned(edge.spoa, ip)) !== 1 && Date.now() < end) {
      await sendLines(
        inPort,
        Array.from({ length: 5 }, () => dovecotLine(ip)),
      );
      await new Promise((r) => setTimeout(r, 300));
    }
    await waitBanned(edge, ip, rs.out);
    assert.equal(await spopBanned(edge.spoa, '198.51.100.62'), 0, 'only the address in the lines');
    assert.ok((await linesOver(edge, 'udp')) >= udpBefore + 5, 'the lines came over UDP');
    await rs.stop();
  });

  test('TCP: a dovecot log file tailed by rsyslog (imfile) reaches edgeban and bans the client', async () => {
    const dir = tempDir('edgeban-rsyslog-tcp-');
    const log = join(dir, 'dovecot.log');
    writeFileSync(log, '');
    const rs = await startRsyslog(
      dir,
      [
        'module(load="imfile")',
        `input(type="imfile" file="${log}" tag="dovecot:" facility="mail" severity="info")`,
        forwardTo(edge.syslog, 'tcp'),
      ].join('\n'),
    );
    const ip = '198.51.100.71';
    assert.equal(await spopBanned(edge.spoa, ip), 0);
    const tcpBefore = await linesOver(edge, 'tcp');
    // Dovecot's own log line, as it writes it to a file: the message after "dovecot: "
    const body = dovecotLine(ip).replace(/^.* dovecot: /, '');
    for (let i = 0; i < 5; i++) appendFileSync(log, `${body}\n`);
    await waitBanned(edge, ip, rs.out);
    assert.ok((await linesOver(edge, 'tcp')) >= tcpBefore + 5, 'the lines came over TCP');
    await rs.stop();
  });
});
