/** What a webhook can be told about. */
export const NOTIFY_EVENTS = ['ban', 'unban', 'quarantine', 'database_down', 'database_up'] as const;
export type NotifyEventType = (typeof NOTIFY_EVENTS)[number];

/** `json`: edgeban's own batch document. `chat`: `{"text": …}`, what Slack and Matrix hooks read. */
export const NOTIFY_FORMATS = ['json', 'chat'] as const;
export type NotifyFormat = (typeof NOTIFY_FORMATS)[number];

/** One `notify.webhooks` entry. */
export interface WebhookConfig {
  url: string;
  /** The events it gets; empty: all of them. */
  events: NotifyEventType[];
  /** Only bans and unbans of these jails (bans made by the `ban:` policy are jail `default`); empty: all. */
  jails: string[];
  /** HMAC-SHA256 key of the `X-Edgeban-Signature` header; empty: unsigned. */
  secret: string;
  format: NotifyFormat;
}

export interface NotifyConfig {
  webhooks: WebhookConfig[];
  /** Events held per webhook while it is slow or down; the oldest are dropped (and counted) past it. */
  queue_size: number;
  /** Most events in one POST. */
  batch_size: number;
  /** Longest an event waits for others to join its batch (ms). */
  batch_delay: number;
  /** Longest one POST may take (ms). */
  timeout: number;
}

/** One thing that happened, as every webhook format is written from. Times are unix ms. */
export interface NotifyEvent {
  type: NotifyEventType;
  at: number;
  node: string;
  /** The jail of a ban or unban; null for events about the process. */
  jail: string | null;
  /** Address or CIDR of a ban or unban. */
  ip?: string;
  kind?: string;
  reason?: string;
  pattern?: string | null;
  expiresAt?: number | null;
  by?: string;
  offences?: number;
  /** Quarantined pattern name. */
  name?: string;
  /** Database driver and last error for database_down. */
  detail?: string;
}
