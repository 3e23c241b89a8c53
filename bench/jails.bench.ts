/**
 * What jails cost per log line: the matcher (BatchMatcher, in-thread) and the ban engine over a
 * mixed corpus of sshd, Dovecot, Postfix and Nginx failures, with the built-in patterns split
 * into 10 jails, against the same lines with no jails (every pattern in the `default` jail) in
 * the same run, rounds alternated. Every jail has the `ban:` thresholds and every address fails
 * for one service only, so both engines must make the same number of bans: the check.
 *
 * `npm run bench jails` (400k lines) or `-- --quick` (100k).
 */
import { defaultConfig } from '../src/main/config/defaults.js';
import { createCore } from '../src/main/core.js';
import type { JailSpec } from '../src/main/jails/types.js';
import { BatchMatcher } from '../src/shared/patterns/batch-matcher.js';
import { builtin } from '../src/shared/patterns/presets/index.js';
import {
  type MatchResult,
  type MatchTask,
  REC_ADDR,
  REC_FAMILY,
  REC_PATTERN,
  RECORD_SIZE,
} from '../src/shared/patterns/protocol.js';
import type { BenchReport, BenchRow } from './run.js';

const ROUNDS = 5;
const BATCH = 512;
const MIN = 60_000;

function cpuUs(): number {
  const c = process.cpuUsage();
  return c.user + c.system;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** The built-in patterns in 10 jails (by glob and by name), thresholds as `ban:`. */
function tenJails(): JailSpec[] {
  const groups: [string, string[]][] = [
    ['sshd-password', ['sshd-failed-password']],
    ['sshd-users', ['sshd-invalid-user', 'sshd-user-not-allowed', 'sshd-root-refused']],
    ['sshd-other', ['sshd-*']],
    ['imap-auth', ['dovecot-auth-failed']],
    ['imap-other', ['dovecot-*']],
    ['smtp-sasl', ['postfix-sasl-failed']],
    ['smtp-relay', ['postfix-relay-denied']],
    ['smtp-other', ['postfix-*']],
    ['web-auth', ['nginx-auth-basic']],
    ['web-other', ['nginx-*', 'sogo-*']],
  ];
  const ban = defaultConfig().ban;
  return groups.map(([name, patterns]) => ({
    name,
    enabled: true,
    patterns,
    maxAttempts: ban.max_attempts,
    timeWindow: ban.time_window,
    initialBanTime: ban.initial_ban_time,
    maxBanTime: ban.max_ban_time,
    escalationFactor: ban.escalation_factor,
    services: name.startsWith('imap') ? ['imap'] : name.startsWith('smtp') ? ['smtp'] : [],
    weight: 'one',
    source: 'logs',
    sourceJails: [],
    mode: 'enforce',
    subnet: null,
    logpath: [],
    origin: 'config',
  }));
}

/** `n` syslog lines, four services in turn, each address failing for one service only. */
function corpus(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = i >> 2;
    const ip = `${10 + (i & 3)}.${(a >> 12) & 255}.${(a >> 4) & 255}.${a & 15}`;
    switch (i & 3) {
      case 0:
        out.push(
          `<38>Dec  2 10:00:00 gw sshd[9002]: Failed password for invalid user u${i} from ${ip} port 4${i % 1000} ssh2`,
        );
        break;
      case 1:
        out.push(
          `<22>Dec  2 10:00:00 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u${i}>, method=PLAIN, rip=${ip}, lip=192.0.2.10, TLS`,
        );
        break;
      case 2:
        out.push(
          `<22>Dec  2 10:00:00 mail postfix/smtpd[2212]: warning: unknown[${ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6`,
        );
        break;
      default:
        out.push(
          `<27>Dec  2 10:00:00 web nginx: 2026/12/02 10:00:00 [error] 1234#1234: *6 user "u${i}" was not found in "/etc/nginx/.htpasswd", client: ${ip}, server: example.com, request: "GET / HTTP/1.1", host: "example.com"`,
        );
    }
  }
  return out;
}

/** One pass: match every batch, feed every match to a fresh engine. CPU-µs per line, bans made. */
function pass(
  batches: Uint8Array[],
  lines: number,
  jails: JailSpec[],
): { us: number; bans: number; matches: number } {
  const config = defaultConfig();
  config.jails = jails;
  config.ban.max_tracked = 2_000_000;
  const { engine } = createCore({ config, nodeId: 'bench', initialCapacity: 1 << 16 });
  engine.setPatterns(builtin);
  const m = new BatchMatcher();
  const payload = JSON.stringify({ version: 1, specs: builtin, skip: [] });
  const names = builtin.map((p) => p.name);
  let bans = 0;
  let matches = 0;
  const t = Date.UTC(2026, 11, 2, 10, 0, 0);
  const t0 = cpuUs();
  for (let b = 0; b < batches.length; b++) {
    const task: MatchTask = {
      version: 1,
      patterns: payload,
      buf: batches[b],
      count: BATCH,
      timeMs: t + b,
      lineTime: false,
      maxLen: 8192,
      budgetMs: 1e9,
    };
    const r: MatchResult = m.run(task);
    const rec = r.records;
    for (let k = 0; k < r.matches; k++) {
      const off = k * RECORD_SIZE;
      const id = rec[off + REC_PATTERN] | (rec[off + REC_PATTERN + 1] << 8);
      const family = rec[off + REC_FAMILY] as 4 | 6;
      const addr = rec.subarray(off + REC_ADDR, off + REC_ADDR + (family === 4 ? 4 : 16));
      if (engine.recordFailure(addr, family, names[id], t + b, r.texts?.[k]) !== null) bans++;
    }
    matches += r.matches;
  }
  const us = (cpuUs() - t0) / lines;
  engine.stop();
  return { us, bans, matches };
}

export async function run(args: string[]): Promise<BenchReport> {
  const n = args.includes('--quick') ? 100_000 : 400_000;
  const lines = corpus(n);
  const enc = new TextEncoder();
  const batches: Uint8Array[] = [];
  for (let i = 0; i < lines.length; i += BATCH)
    batches.push(enc.encode(`${lines.slice(i, i + BATCH).join('\n')}\n`));
  const jails = tenJails();
  // warm both paths once
  pass(batches.slice(0, 20), 20 * BATCH, []);
  pass(batches.slice(0, 20), 20 * BATCH, jails);
  const none: number[] = [];
  const ten: number[] = [];
  let check = '';
  let ok = true;
  for (let r = 0; r < ROUNDS; r++) {
    const a = pass(batches, n, []);
    const b = pass(batches, n, jails);
    none.push(a.us);
    ten.push(b.us);
    if (a.bans !== b.bans || a.matches !== b.matches || a.matches !== n) {
      ok = false;
      check = `round ${r}: ${a.matches}/${b.matches} matches of ${n}, ${a.bans}/${b.bans} bans (no jails / 10 jails)`;
    } else if (check === '') check = `every line matched; ${a.bans} bans with and without jails, each round`;
  }
  const rows: BenchRow[] = [
    {
      name: `matcher + engine per line, built-in patterns in 10 jails (${n} mixed lines, ${n / 4} addresses per service)`,
      value: median(ten),
      unit: 'CPU-µs/line',
      stat: `median of ${ROUNDS}`,
      baseline: { name: 'same lines, no jails (the ban: policy)', value: median(none) },
      notes: `${((median(ten) / median(none) - 1) * 100).toFixed(1)} % against no jails`,
      verified: ok,
      verification: check,
    },
  ];
  return {
    bench: 'jails',
    rows,
    params: { lines: n, rounds: ROUNDS, jails: jails.length, window: 10 * MIN },
  };
}
