// The signature on every webhook delivery, GitHub-style:
//   X-Jarvis-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>
//   signBody(secret, body)                 the sender, over the exact bytes it POSTs;
//   verifySignature(secret, body, header)  a receiver (and our tests), in constant time.
// The body is signed as sent: a receiver must verify the raw bytes before parsing the JSON.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Jarvis-Signature-256';
export const EVENT_HEADER = 'X-Jarvis-Event';
export const EVENT_ID_HEADER = 'X-Jarvis-Event-Id';
export const DELIVERY_HEADER = 'X-Jarvis-Delivery-Id';

export function signBody(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** True only for a well-formed header carrying the right HMAC; never throws. */
export function verifySignature(secret: string, body: string | Uint8Array, header: string | null | undefined): boolean {
  if (typeof header !== 'string' || !/^sha256=[0-9a-f]{64}$/i.test(header.trim())) return false;
  const expected = Buffer.from(signBody(secret, body).slice(7), 'hex');
  const given = Buffer.from(header.trim().slice(7), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Every header of one delivery attempt: the same event id on every retry, a new delivery id per delivery. */
export function deliveryHeaders(args: { secret: string; body: string; type: string; eventId: string; deliveryId: string }): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    'User-Agent': 'Jarvis-Webhook/1',
    [SIGNATURE_HEADER]: signBody(args.secret, args.body),
    [EVENT_HEADER]: args.type,
    [EVENT_ID_HEADER]: args.eventId,
    [DELIVERY_HEADER]: args.deliveryId,
  };
}
