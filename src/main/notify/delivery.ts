import { backoffDelay } from '../../shared/backoff.js';
import type { LogThrottle } from '../log/throttle.js';
import type { LazyWebhookClient } from './client.js';
import { formatBatch } from './format.js';
import { EventQueue } from './queue.js';
import { signature } from './sign.js';
import type { NotifyConfig, NotifyEvent, WebhookConfig } from './types.js';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 60_000;

/** Statuses worth sending again: the receiver is busy, restarting or behind a failing proxy. */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** How a webhook is named in logs and metrics: its host only (chat hook URLs carry secrets). */
export function webhookLabel(index: number, url: string): string {
  try {
    return `${index}:${new URL(url).host}`;
  } catch {
    return String(index);
  }
}

/**
 * One webhook's queue and its sender: events wait at most `batch_delay` to join a batch, one POST
 * is in flight at a time (the receiver sees events in order), a failure is retried with a growing
 * delay while the queue holds the events, and nothing here runs on a request path: `push` is a
 * queue append.
 */
export class Delivery {
  readonly queue: EventQueue;
  readonly label: string;
  sent = 0;
  posts = 0;
  failures = 0;
  /** Refused by the receiver (a 4xx that another try will not change): dropped. */
  refused = 0;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private failuresInARow = 0;
  private stopped = false;

  constructor(
    readonly hook: WebhookConfig,
    index: number,
    private readonly opts: NotifyConfig,
    private readonly node: string,
    private readonly client: LazyWebhookClient,
    private readonly throttle: LogThrottle,
  ) {
    this.queue = new EventQueue(opts.queue_size);
    this.label = webhookLabel(index, hook.url);
  }

  wants(e: NotifyEvent): boolean {
    const h = this.hook;
    if (h.events.length > 0 && !h.events.includes(e.type)) return false;
    if (h.jails.length > 0 && e.jail !== null && !h.jails.includes(e.jail)) return false;
    return true;
  }

  push(e: NotifyEvent): void {
    this.queue.push(e);
    if (this.queue.size >= this.opts.batch_size) this.schedule(0);
    else this.schedule(this.opts.batch_delay);
  }

  private schedule(ms: number): void {
    if (this.stopped || this.inFlight !== null) return;
    if (this.timer !== null) {
      if (ms > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      this.inFlight = this.send().finally(() => {
        this.inFlight = null;
        this.afterSend();
      });
    }, ms);
    this.timer.unref();
  }

  private afterSend(): void {
    if (this.stopped || this.queue.size === 0) return;
    if (this.failuresInARow > 0) {
      const exp = backoffDelay(this.failuresInARow - 1, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
      // full jitter: many edgeban nodes behind one receiver do not retry in step
      this.schedule(Math.round(exp / 2 + Math.random() * (exp / 2)));
    } else this.schedule(this.queue.size >= this.opts.batch_size ? 0 : this.opts.batch_delay);
  }

  private async send(): Promise<void> {
    const batch = this.queue.peek(this.opts.batch_size);
    if (batch.length === 0) return;
    const now = Date.now();
    const body = formatBatch(this.hook.format, this.node, batch, now);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'edgeban-notify',
      'x-edgeban-events': String(batch.length),
    };
    if (this.hook.secret !== '') {
      const ts = Math.floor(now / 1000);
      headers['x-edgeban-timestamp'] = String(ts);
      headers['x-edgeban-signature'] = signature(this.hook.secret, ts, body);
    }
    this.posts++;
    try {
      const { request, dispatcher } = await this.client.get();
      const res = await request(this.hook.url, {
        method: 'POST',
        body,
        headers,
        dispatcher,
        headersTimeout: this.opts.timeout,
        bodyTimeout: this.opts.timeout,
        signal: AbortSignal.timeout(this.opts.timeout),
      });
      await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
      if (res.statusCode >= 200 && res.statusCode < 300) {
        this.queue.drop(batch.length);
        this.sent += batch.length;
        this.failuresInARow = 0;
        return;
      }
      if (!retryable(res.statusCode)) {
        // the receiver will refuse the same batch again: dropping it keeps the rest moving
        this.queue.drop(batch.length);
        this.refused += batch.length;
        this.failuresInARow = 0;
        this.throttle.warn(
          'notify-refused',
          this.label,
          { webhook: this.label, status: res.statusCode, events: batch.length },
          'webhook refused a batch of notifications; dropped',
        );
        return;
      }
      this.failed(new Error(`HTTP ${res.statusCode}`));
    } catch (err) {
      this.failed(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private failed(err: Error): void {
    this.failures++;
    this.failuresInARow++;
    this.throttle.warn(
      'notify-failed',
      this.label,
      { webhook: this.label, err, queued: this.queue.size },
      'webhook unreachable; notifications kept and sent again',
    );
  }

  /** One last try within `ms`; what is still queued then is reported lost. */
  async stop(ms: number): Promise<number> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const deadline = Date.now() + ms;
    if (this.inFlight !== null) await this.inFlight;
    while (this.queue.size > 0 && Date.now() < deadline && this.failuresInARow === 0) await this.send();
    return this.queue.size;
  }
}
