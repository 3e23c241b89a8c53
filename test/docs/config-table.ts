/**
 * The table of every configuration key in docs/configuration.md, made from the schema and the
 * embedded defaults so the page cannot drift from the code. `node dist/test/docs/config-table.js
 * --write` rewrites it between the page's `<!-- config-keys -->` markers; the docs tests check it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { defaultConfig } from '../../src/main/config/defaults.js';
import { formatDuration } from '../../src/main/config/duration.js';
import { type KeySpec, SCHEMA } from '../../src/main/config/schema.js';

export const CONFIG_DOC = join(import.meta.dirname, '..', '..', '..', 'docs', 'configuration.md');
const OPEN = '<!-- config-keys -->';
const CLOSE = '<!-- /config-keys -->';

function valueAt(path: string): unknown {
  let v: unknown = defaultConfig();
  for (const part of path.split('.')) v = (v as Record<string, unknown>)[part];
  return v;
}

function code(s: string): string {
  return `\`${s}\``;
}

function defaultText(spec: KeySpec, v: unknown): string {
  switch (spec.kind) {
    case 'patterns':
      return 'none: the built-in presets';
    case 'webhooks':
    case 'jails':
      return 'none';
    case 'duration':
      return code(formatDuration(v as number));
    case 'userMap':
      return Object.keys(v as object).length === 0 ? code('{}') : code(JSON.stringify(v));
    case 'stringList':
    case 'cidrList':
    case 'listEntries': {
      const list = v as unknown[];
      return list.length === 0 ? code('[]') : list.map((x) => code(String(x))).join(', ');
    }
    case 'string':
      return v === '' ? code('""') : code(String(v));
    default:
      return code(String(v));
  }
}

/** The environment variable that sets `key` (the documented FAIL2BAN_SECTION_KEY form). */
export function envName(key: string): string {
  return `FAIL2BAN_${key.replace(/\./g, '_').toUpperCase()}`;
}

export function configTable(): string {
  const rows = ['| key | default | environment | meaning |', '|---|---|---|---|'];
  for (const [key, spec] of Object.entries(SCHEMA)) {
    const env =
      spec.kind === 'patterns' || spec.kind === 'webhooks' || spec.kind === 'jails'
        ? 'file only'
        : code(envName(key));
    const meaning = spec.doc.replace(/\|/g, '\\|');
    rows.push(`| ${code(key)} | ${defaultText(spec, valueAt(key))} | ${env} | ${meaning} |`);
  }
  return rows.join('\n');
}

/** The table as the page has it now, or null when the markers are missing. */
export function tableInDoc(text: string): string | null {
  const a = text.indexOf(OPEN);
  const b = text.indexOf(CLOSE);
  if (a < 0 || b < a) return null;
  return text.slice(a + OPEN.length, b).trim();
}

function write(): void {
  const text = readFileSync(CONFIG_DOC, 'utf8');
  const a = text.indexOf(OPEN);
  const b = text.indexOf(CLOSE);
  if (a < 0 || b < a) throw new Error(`${CONFIG_DOC}: no ${OPEN} … ${CLOSE} markers`);
  writeFileSync(CONFIG_DOC, `${text.slice(0, a + OPEN.length)}\n${configTable()}\n${text.slice(b)}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv.includes('--write'))
  write();
