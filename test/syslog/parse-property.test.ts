import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  FORMAT_3164,
  FORMAT_5424,
  lineTimeMs,
  parseSyslog,
  patternText,
  SyslogHeader,
} from '../../src/shared/syslog/parse.js';

/** Syslog header parsing over random RFC 3164 / 5424 lines and garbage (fixed seed, time budget). */

const RUN = { seed: 0x5eed, numRuns: 3000, interruptAfterTimeLimit: 4000 } as const;
const h = new SyslogHeader();

const word = fc
  .array(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.'.split('')), {
    minLength: 1,
    maxLength: 12,
  })
  .map((a) => a.join(''));
const msgText = fc
  .array(fc.constantFrom(...'abc xyz=1.2.3.4:[]<>-'.split('')), { minLength: 1, maxLength: 60 })
  .map((a) => a.join('').trim())
  .filter((m) => m !== '');
const pad = (n: number) => String(n).padStart(2, '0');
const month = fc.constantFrom(
  'Jan',
  'Feb',
  'Mar',
  'Apr',
  'May',
  'Jun',
  'Jul',
  'Aug',
  'Sep',
  'Oct',
  'Nov',
  'Dec',
);

const rfc3164 = fc
  .record({
    pri: fc.option(fc.integer({ min: 0, max: 191 }), { nil: undefined }),
    mon: month,
    day: fc.integer({ min: 1, max: 28 }),
    hh: fc.integer({ min: 0, max: 23 }),
    mm: fc.integer({ min: 0, max: 59 }),
    ss: fc.integer({ min: 0, max: 59 }),
    host: word,
    tag: word.filter((t) => /^[a-z]/.test(t)),
    pid: fc.option(fc.integer({ min: 1, max: 99999 }), { nil: undefined }),
    msg: msgText,
  })
  .map((r) => ({
    ...r,
    line:
      `${r.pri === undefined ? '' : `<${r.pri}>`}${r.mon} ${String(r.day).padStart(2, ' ')} ` +
      `${pad(r.hh)}:${pad(r.mm)}:${pad(r.ss)} ${r.host} ${r.tag}${r.pid === undefined ? '' : `[${r.pid}]`}: ${r.msg}`,
  }));

const rfc5424 = fc
  .record({
    pri: fc.integer({ min: 0, max: 191 }),
    host: word.filter((w) => w !== '-'),
    app: word.filter((w) => w !== '-'),
    msg: msgText,
  })
  .map((r) => ({ ...r, line: `<${r.pri}>1 2026-11-24T16:05:41.003Z ${r.host} ${r.app} - - - ${r.msg}` }));

const garbage = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc
    .array(
      fc.constantFrom('<', '>', '1', '9', '191', '192', ' ', 'Nov', ':', '[', ']', '-', 'T', '2026-', 'x'),
      {
        maxLength: 30,
      },
    )
    .map((a) => a.join('')),
);

function withinBounds(s: string, start: number, end: number): void {
  const pairs: [number, number][] = [
    [h.tsStart, h.tsEnd],
    [h.hostStart, h.hostEnd],
    [h.tagStart, h.tagEnd],
    [h.pidStart, h.pidEnd],
  ];
  for (const [a, b] of pairs) {
    if (a < 0) continue;
    assert.ok(
      a >= start && a <= b && b <= end,
      `field [${a}, ${b}) outside [${start}, ${end}) of ${JSON.stringify(s)}`,
    );
  }
  assert.ok(h.msgStart >= start && h.msgStart <= h.msgEnd && h.msgEnd <= end, 'message within the slice');
  assert.ok(h.pri >= -1 && h.pri <= 191);
}

describe('syslog header parsing properties', () => {
  test('any input, any slice: never throws, every field within the slice', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          rfc3164.map((r) => r.line),
          rfc5424.map((r) => r.line),
          garbage,
        ),
        fc.nat(),
        fc.nat(),
        (line, a, b) => {
          const s = `##${line}##`;
          const start = 2 + (a % (line.length + 1));
          const end = Math.max(start, 2 + line.length - (b % (line.length + 1)));
          parseSyslog(s, start, end, h);
          withinBounds(s, start, end);
          const text = patternText(s, h);
          assert.ok(text.length <= end - start + 2);
          lineTimeMs(s, h, Date.UTC(2026, 10, 24));
        },
      ),
      RUN,
    );
  });

  test('well-formed RFC 3164 lines: host, tag, pid and message as written', () => {
    fc.assert(
      fc.property(rfc3164, (r) => {
        const s = r.line;
        assert.equal(parseSyslog(s, 0, s.length, h), FORMAT_3164);
        assert.equal(h.pri, r.pri ?? -1);
        assert.equal(s.slice(h.hostStart, h.hostEnd), r.host);
        assert.equal(s.slice(h.tagStart, h.tagEnd), r.tag);
        if (r.pid !== undefined) assert.equal(s.slice(h.pidStart, h.pidEnd), String(r.pid));
        assert.equal(s.slice(h.msgStart, h.msgEnd), r.msg);
        assert.equal(patternText(s, h), `${r.tag}: ${r.msg}`);
      }),
      RUN,
    );
  });

  test('well-formed RFC 5424 lines: host, app and message as written', () => {
    fc.assert(
      fc.property(rfc5424, (r) => {
        const s = r.line;
        assert.equal(parseSyslog(s, 0, s.length, h), FORMAT_5424);
        assert.equal(h.pri, r.pri);
        assert.equal(s.slice(h.hostStart, h.hostEnd), r.host);
        assert.equal(s.slice(h.tagStart, h.tagEnd), r.app);
        assert.equal(s.slice(h.msgStart, h.msgEnd), r.msg);
      }),
      RUN,
    );
  });
});
