import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { BanEvent } from '../../src/main/engine/types.js';
import { JournalSpill } from '../../src/main/store/spill.js';
import { tempDir } from '../helpers/tmp.js';
import { memoryLogger } from '../ingest/harness.js';

const ban = (target: string): BanEvent => ({
  type: 'ban',
  record: {
    target,
    kind: 'temp',
    reason: 'r',
    pattern: null,
    createdAt: 1,
    expiresAt: 2,
    createdBy: 'api',
    offences: 1,
    node: 'n',
  },
});

test('the journal file: the journal at the outage, then each change, read back in order; a torn last line is skipped', async () => {
  const dir = tempDir('edgeban-spill-');
  try {
    const file = join(dir, 'edgeban-journal.jsonl');
    const { log, lines } = memoryLogger();
    const spill = new JournalSpill(file, log, () => [ban('192.0.2.1'), ban('192.0.2.2')]);
    spill.append(ban('192.0.2.99')); // not in an outage: nothing goes to disk
    await spill.close();
    assert.equal(existsSync(file), false);
    spill.begin();
    spill.append(ban('192.0.2.3'));
    spill.append({ type: 'unban', target: '192.0.2.1', kind: 'temp', by: 'ops', reason: '', at: 3 });
    await spill.close();
    // a kill in the middle of an append leaves half a line
    writeFileSync(file, `${readFileSync(file, 'utf8')}{"type":"ban","rec`);
    const again = new JournalSpill(file, log, () => []);
    const events = await again.recover();
    assert.deepEqual(
      events.map((e) => (e.type === 'ban' ? e.record.target : e.type === 'unban' ? `-${e.target}` : '')),
      ['192.0.2.1', '192.0.2.2', '192.0.2.3', '-192.0.2.1'],
    );
    assert.ok(lines.some((l) => l.msg === 'journal file: unreadable lines skipped' && l.skipped === 1));
    assert.equal(again.active, true, 'what was recovered is still owed to the database');
    again.clear();
    await again.close();
    assert.equal(existsSync(file), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
