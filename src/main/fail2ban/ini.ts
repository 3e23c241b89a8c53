import { Fail2banConfigError } from './errors.js';

/** Sections of one INI file, keys lower-cased as Python's configparser does. */
export interface IniFile {
  /** `[DEFAULT]` options. */
  defaults: Map<string, string>;
  /** Other sections in file order (names kept as written). */
  sections: Map<string, Map<string, string>>;
}

/** Lines and bytes a fail2ban file may have: config files are small, a huge one is a mistake. */
const MAX_BYTES = 4 * 1024 * 1024;

/**
 * Parses fail2ban's INI dialect (Python configparser with `inline_comment_prefixes=";"`):
 * `key = value` or `key: value`, continuation lines start with whitespace and join with `\n`,
 * whole-line comments start with `#` or `;`, an inline comment is ` ;…`. Later keys override
 * earlier ones in the same section.
 */
export function parseIni(text: string, file: string): IniFile {
  if (text.length > MAX_BYTES) throw new Fail2banConfigError(file, `larger than ${MAX_BYTES} bytes`);
  const defaults = new Map<string, string>();
  const sections = new Map<string, Map<string, string>>();
  let cur: Map<string, string> | null = null;
  let lastKey: string | null = null;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n];
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    // an empty line does not end a multi-line value (fail2ban drops empty regexes anyway)
    if (trimmed === '') continue;
    const indented = raw[0] === ' ' || raw[0] === '\t';
    if (indented && cur !== null && lastKey !== null) {
      const prev = cur.get(lastKey) ?? '';
      cur.set(lastKey, prev === '' ? stripInline(trimmed) : `${prev}\n${stripInline(trimmed)}`);
      continue;
    }
    const sec = /^\[([^\]]+)\]/.exec(trimmed);
    if (sec) {
      const name = sec[1];
      if (name === 'DEFAULT') cur = defaults;
      else {
        cur = sections.get(name) ?? new Map<string, string>();
        sections.set(name, cur);
      }
      lastKey = null;
      continue;
    }
    const kv = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(trimmed);
    if (kv === null || cur === null) {
      throw new Fail2banConfigError(
        file,
        `line ${n + 1}: ${cur === null ? 'option before any [section]' : 'expected "key = value"'}`,
      );
    }
    lastKey = kv[1].toLowerCase();
    cur.set(lastKey, stripInline(kv[2]));
  }
  return { defaults, sections };
}

function stripInline(v: string): string {
  const m = /\s;/.exec(v);
  return (m === null ? v : v.slice(0, m.index)).trimEnd();
}
