import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkLinks, links, slugs } from './links.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

const fixtures = mkdtempSync(join(tmpdir(), 'edgeban-docs-links-'));
after(() => rmSync(fixtures, { recursive: true, force: true }));

/** A tiny repository: README.md, docs/ and one example file. */
function repo(name: string, files: Record<string, string>): string {
  const root = join(fixtures, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const GOOD = {
  'README.md':
    '# Project\n\nSee [the guide](docs/guide.md#what-is-fatal-and-why) and [an example](examples/a.cfg).\n',
  'docs/guide.md':
    '# Guide\n\n## What is fatal, and why\n\nBack [home](../README.md#project); [below](#envoys-http-service-mode-via-nginx).\n\n' +
    "## Envoy's HTTP-service mode (via Nginx)\n\nMore in [the other page](other.md).\n",
  'docs/other.md': '# Other\n\n```\n[not a link](nowhere.md)\n```\n\nInline `[x](nowhere.md)` is text.\n',
  'examples/a.cfg': 'x\n',
};

test('README.md and every docs/*.md: relative links resolve, anchors match headings, no orphan page', () => {
  const problems = checkLinks(ROOT);
  assert.deepEqual(
    problems.map((p) => `${p.file}:${p.line}: ${p.target}: ${p.problem}`),
    [],
  );
});

test('a consistent fixture passes: anchors by GitHub slug, links into other pages, code is not a link', () => {
  assert.deepEqual(checkLinks(repo('good', GOOD)), []);
});

test('a broken file link, a broken anchor and an orphan page are each reported where they are', () => {
  const root = repo('broken', {
    ...GOOD,
    'README.md': `${GOOD['README.md']}\nAlso [gone](docs/gone.md) and [wrong anchor](docs/guide.md#what-is-fatal).\n`,
    'docs/orphan.md': '# Orphan\n\nNobody links here, though it links [home](../README.md).\n',
  });
  const got = checkLinks(root).map((p) => `${p.file}:${p.line}: ${p.target}: ${p.problem}`);
  assert.deepEqual(got, [
    'README.md:5: docs/gone.md: no such file: docs/gone.md',
    'README.md:5: docs/guide.md#what-is-fatal: no heading #what-is-fatal in docs/guide.md',
    'docs/orphan.md:1: docs/orphan.md: not linked from README.md, nor from a page linked from it',
  ]);
});

test('a page linked only from an orphan is itself unreachable', () => {
  const root = repo('island', {
    ...GOOD,
    'docs/island-a.md': '# A\n\n[b](island-b.md)\n',
    'docs/island-b.md': '# B\n\n[a](island-a.md)\n',
  });
  const orphans = checkLinks(root).map((p) => p.file);
  assert.deepEqual(orphans, ['docs/island-a.md', 'docs/island-b.md']);
});

test('slugs follow GitHub: punctuation dropped, underscores and hyphens kept, repeats numbered', () => {
  const s = slugs(
    '# Wiring Envoy (gRPC ext_authz)\n## Nginx `auth_request`\n## Notes\n## Notes\n```\n# not a heading\n```\n',
  );
  assert.deepEqual([...s], ['wiring-envoy-grpc-ext_authz', 'nginx-auth_request', 'notes', 'notes-1']);
});

test('links: inline and reference forms; absolute URLs are left to the caller', () => {
  const got = links('[a](docs/a.md) [b](http://x/y) [c](#here "title")\n\n[ref]: docs/r.md\n').map(
    (l) => l.target,
  );
  assert.deepEqual(got, ['docs/a.md', 'http://x/y', '#here', 'docs/r.md']);
});
