import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  FORMAT_3164,
  FORMAT_5424,
  FORMAT_NONE,
  lineTimeMs,
  parseSyslog,
  patternText,
  SyslogHeader,
} from '../../src/shared/syslog/parse.js';

const h = new SyslogHeader();
function parse(s: string) {
  const format = parseSyslog(s, 0, s.length, h);
  const part = (a: number, b: number) => (a < 0 ? null : s.slice(a, b));
  return {
    format,
    pri: h.pri,
    ts: part(h.tsStart, h.tsEnd),
    host: part(h.hostStart, h.hostEnd),
    tag: part(h.tagStart, h.tagEnd),
    pid: part(h.pidStart, h.pidEnd),
    msg: s.slice(h.msgStart, h.msgEnd),
    text: patternText(s, h),
  };
}

describe('syslog header parsing', () => {
  test('RFC 3164 with host, tag and pid', () => {
    assert.deepEqual(parse('<38>Nov  4 16:05:41 mail dovecot[812]: auth failed, rip=1.2.3.4'), {
      format: FORMAT_3164,
      pri: 38,
      ts: 'Nov  4 16:05:41',
      host: 'mail',
      tag: 'dovecot',
      pid: '812',
      msg: 'auth failed, rip=1.2.3.4',
      text: 'dovecot: auth failed, rip=1.2.3.4',
    });
  });

  test('RFC 3164 without host (some senders), and without <PRI> (log files)', () => {
    const a = parse('<13>Nov 24 16:05:41 sshd: Invalid user x from 1.2.3.4');
    assert.equal(a.host, null);
    assert.equal(a.tag, 'sshd');
    assert.equal(a.text, 'sshd: Invalid user x from 1.2.3.4');
    const b = parse('Oct 15 10:30:15 mail postfix/smtpd[1]: warning: x');
    assert.equal(b.format, FORMAT_3164);
    assert.equal(b.pri, -1);
    assert.equal(b.tag, 'postfix/smtpd');
    assert.equal(b.text, 'postfix/smtpd: warning: x');
  });

  test('SOGo writes `sogod [pid]:`', () => {
    const a = parse("Nov 24 16:05:50 sogod [3253]: SOGoRootPage Login from '1.2.3.4'");
    assert.equal(a.host, null);
    assert.equal(a.tag, 'sogod');
    assert.equal(a.pid, '3253');
    assert.equal(a.text, "sogod: SOGoRootPage Login from '1.2.3.4'");
  });

  test('RFC 3339 timestamp in the 3164 position (rsyslog file format)', () => {
    const a = parse('2026-11-24T16:05:41.123456+00:00 mail dovecot: hello');
    assert.equal(a.ts, '2026-11-24T16:05:41.123456+00:00');
    assert.equal(a.host, 'mail');
    assert.equal(a.text, 'dovecot: hello');
    const s = '2026-11-24T16:05:41.123+00:00 mail dovecot: hello';
    parseSyslog(s, 0, s.length, h);
    assert.equal(lineTimeMs(s, h, 0), Date.UTC(2026, 10, 24, 16, 5, 41, 123));
  });

  test('RFC 5424 with structured data, NILVALUEs and BOM', () => {
    const s =
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventID="1011" x="a\\]b"] \uFEFFAn application event';
    const a = parse(s);
    assert.equal(a.format, FORMAT_5424);
    assert.equal(a.pri, 165);
    assert.equal(a.host, 'mymachine.example.com');
    assert.equal(a.tag, 'evntslog');
    assert.equal(a.pid, null);
    assert.equal(a.msg, 'An application event');
    assert.equal(a.text, 'evntslog: An application event');
    assert.equal(lineTimeMs(s, h, 0), Date.UTC(2003, 9, 11, 22, 14, 15, 3));
    const b = parse('<34>1 - - - - - - just text');
    assert.equal(b.tag, null);
    assert.equal(b.text, 'just text');
  });

  test('no header: the whole line is the message', () => {
    const a = parse('2026/11/24 16:05:54 [error] 1#1: *6 user "x" was not found');
    assert.equal(a.format, FORMAT_NONE);
    assert.equal(a.text, '2026/11/24 16:05:54 [error] 1#1: *6 user "x" was not found');
    const n = '2026/11/24 16:05:54 [error] x';
    parseSyslog(n, 0, n.length, h);
    assert.equal(lineTimeMs(n, h, 0), new Date(2026, 10, 24, 16, 5, 54).getTime());
    assert.equal(parse('<999>bad pri').format, FORMAT_NONE);
    assert.equal(parse('\u0000\u0001\uFFFD').format, FORMAT_NONE);
    assert.equal(parse('').format, FORMAT_NONE);
  });

  test('RFC 3164 time has no year: the reference year, or the one before for lines from "the future"', () => {
    const ref = new Date(2027, 0, 2, 12, 0, 0).getTime();
    const s1 = 'Jan  2 11:00:00 h t: x';
    parseSyslog(s1, 0, s1.length, h);
    assert.equal(lineTimeMs(s1, h, ref), new Date(2027, 0, 2, 11, 0, 0).getTime());
    const s2 = 'Dec 31 23:59:59 h t: x';
    parseSyslog(s2, 0, s2.length, h);
    assert.equal(lineTimeMs(s2, h, ref), new Date(2026, 11, 31, 23, 59, 59).getTime());
  });

  test('a one-digit day without padding (`Aug 4 16:47:52`, as many file writers log) is a 3164 timestamp', () => {
    const s =
      'Aug 4 16:47:52 mail3 postfix/smtpd[31152]: warning: unknown[192.0.2.237]: SASL LOGIN authentication failed';
    const r = parse(s);
    assert.equal(r.format, FORMAT_3164);
    assert.equal(r.ts, 'Aug 4 16:47:52');
    assert.equal(r.host, 'mail3');
    assert.equal(r.tag, 'postfix/smtpd');
    assert.equal(r.text, 'postfix/smtpd: warning: unknown[192.0.2.237]: SASL LOGIN authentication failed');
    const ref = new Date(2026, 11, 1).getTime();
    assert.equal(lineTimeMs(s, h, ref), new Date(2026, 7, 4, 16, 47, 52).getTime());
    // two digits unpadded and a padded day keep their meaning; a day of three digits is no timestamp
    assert.equal(parse('Aug 14 16:47:52 h t: x').ts, 'Aug 14 16:47:52');
    assert.equal(parse('Aug  4 16:47:52 h t: x').ts, 'Aug  4 16:47:52');
    assert.equal(parse('Aug 144 16:47:52 h t: x').format, FORMAT_NONE);
  });

  test('parses a slice of a longer string', () => {
    const s = 'xx\n<38>Nov 24 16:05:41 mail dovecot: a\nyy';
    parseSyslog(s, 3, s.length - 3, h);
    assert.equal(patternText(s, h), 'dovecot: a');
  });
});
