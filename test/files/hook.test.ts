import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { FileSourcesService } from '../../src/main/files/service.js';
import { IngestPipeline } from '../../src/main/ingest/pipeline.js';
import { MatcherPool } from '../../src/main/ingest/pool.js';
import { Metrics } from '../../src/main/metrics/registry.js';
import { SyslogStats } from '../../src/main/syslog/stats.js';
import { builtin } from '../../src/shared/patterns/presets/index.js';
import { tempDir } from '../helpers/tmp.js';
import { until as waitUntil } from '../helpers/wait.js';

const until = (what: string, f: () => boolean | Promise<boolean>, ms = 10_000) => waitUntil(what, f, ms, 20);

const line = (ip: string) =>
  `Dec  2 10:00:00 mail dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=${ip}, lip=192.0.2.1`;

test('jails hook: addFileSource and setFileSources follow more files; a config reload keeps them and drops its own', async () => {
  const dir = tempDir('edgeban-files-hook-');
  const a = join(dir, 'a.log');
  const b = join(dir, 'b.log');
  writeFileSync(a, '');
  writeFileSync(b, '');
  const config = defaultConfig();
  config.database.dsn = join(dir, 'fail2ban.db');
  config.files = [{ path: a, format: 'syslog', tag: '', from: 'start' }];
  const seen: string[] = [];
  const pool = new MatcherPool({ threads: 1, patterns: builtin });
  const pipe = new IngestPipeline({
    pool,
    sink: {
      recordFailure: (addr) => {
        seen.push(addr.join('.'));
        return null;
      },
    },
    stats: new SyslogStats(),
    log: pino({ level: 'silent' }),
    maxQueued: 16,
  });
  const files = new FileSourcesService(
    { config, configPath: null, log: pino({ level: 'silent' }), metrics: new Metrics() },
    () => pipe,
  );
  try {
    files.start();
    await files.addFileSource({ path: b, format: 'syslog', tag: '', from: 'end' });
    assert.deepEqual([...files.counters().keys()], [a, b]);
    appendFileSync(a, `${line('192.0.2.1')}\n`);
    appendFileSync(b, `${line('192.0.2.2')}\n`);
    await until('both files', () => seen.length === 2);
    // a reload whose files: is empty drops a, keeps the run-time b
    await files.reload({ ...config, files: [] });
    assert.deepEqual([...files.counters().keys()], [b]);
    appendFileSync(a, `${line('192.0.2.3')}\n`);
    appendFileSync(b, `${line('192.0.2.4')}\n`);
    await until('b only', () => seen.length === 3);
    await files.pollAll();
    await pipe.idle();
    assert.deepEqual(seen.sort(), ['192.0.2.1', '192.0.2.2', '192.0.2.4']);
    await files.setFileSources([]);
    assert.deepEqual([...files.counters().keys()], []);
  } finally {
    await files.stop();
    await pipe.idle();
    await pool.close();
  }
});
