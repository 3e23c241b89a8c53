import { FILE_FORMATS, FILE_FROM, type FileSourceSpec } from './types.js';

export const FILE_SOURCE_FIELDS = ['path', 'format', 'tag', 'from'];

export type FileSourcesCheck =
  | { ok: true; value: FileSourceSpec[] }
  | { ok: false; expected: string; index?: number };

/** A tag is one syslog token: what the patterns see before `: `. */
const TAG = /^[\w./-]{1,64}$/;

/** Validates `files`: a list of paths or {path, format, tag, from}. */
export function checkFileSources(v: unknown): FileSourcesCheck {
  if (v === null || v === undefined) return { ok: true, value: [] };
  if (!Array.isArray(v)) return { ok: false, expected: 'a list of file sources ({path, format, tag, from})' };
  const out: FileSourceSpec[] = [];
  for (let index = 0; index < v.length; index++) {
    const r = checkFileSource(v[index]);
    if (typeof r === 'string') return { ok: false, expected: r, index };
    out.push(r);
  }
  return { ok: true, value: out };
}

/** One entry, or what is wrong with it. */
export function checkFileSource(e0: unknown): FileSourceSpec | string {
  const e: unknown = typeof e0 === 'string' ? { path: e0 } : e0;
  if (typeof e !== 'object' || e === null || Array.isArray(e))
    return 'a path or a mapping with path, format, tag, from';
  const o = e as Record<string, unknown>;
  const unknown = Object.keys(o).find((k) => !FILE_SOURCE_FIELDS.includes(k));
  if (unknown !== undefined) return `only the fields ${FILE_SOURCE_FIELDS.join(', ')} (found ${unknown})`;
  const path = o.path;
  if (typeof path !== 'string' || !path.startsWith('/') || path.includes('\0') || path.length > 4096)
    return 'path: an absolute file path or glob';
  const format = o.format ?? 'syslog';
  if (typeof format !== 'string' || !(FILE_FORMATS as readonly string[]).includes(format))
    return `format: one of ${FILE_FORMATS.join(', ')}`;
  const tag = o.tag ?? '';
  if (typeof tag !== 'string' || (tag !== '' && !TAG.test(tag)))
    return 'tag: a program name (letters, digits, . _ / -, at most 64)';
  if (format === 'plain' && tag === '')
    return 'tag: required with format plain (the program the lines are from)';
  const from = o.from ?? 'end';
  if (typeof from !== 'string' || !(FILE_FROM as readonly string[]).includes(from))
    return `from: one of ${FILE_FROM.join(', ')}`;
  return { path, format: format as FileSourceSpec['format'], tag, from: from as FileSourceSpec['from'] };
}
