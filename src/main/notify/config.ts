import {
  NOTIFY_EVENTS,
  NOTIFY_FORMATS,
  type NotifyEventType,
  type NotifyFormat,
  type WebhookConfig,
} from './types.js';

export const WEBHOOK_FIELDS = ['url', 'events', 'jails', 'secret', 'format'];

export type WebhookCheck =
  | { ok: true; value: WebhookConfig[] }
  | { ok: false; expected: string; index?: number };

const stringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Validates `notify.webhooks`: a list of {url, events, jails, secret, format}. */
export function checkWebhooks(v: unknown): WebhookCheck {
  if (v === null || v === undefined) return { ok: true, value: [] };
  if (!Array.isArray(v))
    return { ok: false, expected: 'a list of webhooks ({url, events, jails, secret, format})' };
  const out: WebhookConfig[] = [];
  for (let index = 0; index < v.length; index++) {
    const e: unknown = typeof v[index] === 'string' ? { url: v[index] } : v[index];
    if (typeof e !== 'object' || e === null || Array.isArray(e))
      return { ok: false, expected: 'a URL or a mapping with url, events, jails, secret, format', index };
    const o = e as Record<string, unknown>;
    const unknown = Object.keys(o).find((k) => !WEBHOOK_FIELDS.includes(k));
    if (unknown !== undefined)
      return {
        ok: false,
        expected: `only the fields ${WEBHOOK_FIELDS.join(', ')} (found ${unknown})`,
        index,
      };
    let url: URL;
    try {
      url = new URL(String(o.url ?? ''));
    } catch {
      return { ok: false, expected: 'url: an http:// or https:// URL', index };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return { ok: false, expected: 'url: an http:// or https:// URL', index };
    const events = o.events ?? [];
    if (!stringList(events) || events.some((x) => !(NOTIFY_EVENTS as readonly string[]).includes(x)))
      return { ok: false, expected: `events: a list of ${NOTIFY_EVENTS.join(', ')}`, index };
    const jails = o.jails ?? [];
    if (!stringList(jails)) return { ok: false, expected: 'jails: a list of jail names', index };
    const secret = o.secret ?? '';
    if (typeof secret !== 'string') return { ok: false, expected: 'secret: a string', index };
    const format = o.format ?? 'json';
    if (typeof format !== 'string' || !(NOTIFY_FORMATS as readonly string[]).includes(format))
      return { ok: false, expected: `format: one of ${NOTIFY_FORMATS.join(', ')}`, index };
    out.push({
      url: url.toString(),
      events: events as NotifyEventType[],
      jails,
      secret,
      format: format as NotifyFormat,
    });
  }
  return { ok: true, value: out };
}
