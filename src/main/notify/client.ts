import type { Dispatcher, request } from 'undici';

/** What a webhook delivery posts with: undici's request and one shared connection pool. */
export interface WebhookClient {
  request: typeof request;
  dispatcher: Dispatcher;
}

/**
 * undici, loaded the first time a webhook posts: a process without `notify.webhooks` (the
 * default) never loads it, and an idle process does not carry it.
 */
export class LazyWebhookClient {
  private loading: Promise<WebhookClient> | null = null;

  get(): Promise<WebhookClient> {
    if (this.loading === null) {
      const p = import('undici').then((u) => ({
        request: u.request,
        dispatcher: new u.Agent({ connections: 4, keepAliveTimeout: 10_000 }),
      }));
      // a failed load fails this post (retried with back-off), not every later one
      p.catch(() => {
        if (this.loading === p) this.loading = null;
      });
      this.loading = p;
    }
    return this.loading;
  }

  /** Whether undici has been asked for (what the lazy-load test checks). */
  get loaded(): boolean {
    return this.loading !== null;
  }

  async close(): Promise<void> {
    if (this.loading === null) return;
    const c = await this.loading.catch(() => null);
    await c?.dispatcher.close().catch(() => {});
  }
}
