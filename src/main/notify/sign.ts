import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The signature a receiver checks: HMAC-SHA256 over `<timestamp>.<body>` with the webhook's
 * secret, hex, as `X-Edgeban-Signature: sha256=<hex>` beside `X-Edgeban-Timestamp: <unix s>`.
 * The timestamp is inside the signed text, so a captured request cannot be replayed later with a
 * fresh timestamp; receivers refuse old ones.
 */
export function signature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What a receiver does (and the tests): constant-time comparison of the header with our own. */
export function verifySignature(secret: string, timestamp: number, body: string, header: string): boolean {
  const want = Buffer.from(signature(secret, timestamp, body));
  const got = Buffer.from(header);
  return want.length === got.length && timingSafeEqual(want, got);
}
