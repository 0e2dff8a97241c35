import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deliveryHeaders, signBody, verifySignature } from './signature.ts';

describe('webhook signature', () => {
  it('is sha256=<hex HMAC-SHA256(secret, body)>, as a receiver computes it', () => {
    const body = '{"id":"e1","type":"task.succeeded"}';
    const hex = createHmac('sha256', 's3cret').update(body).digest('hex');
    expect(signBody('s3cret', body)).toBe(`sha256=${hex}`);
    // Known answer (RFC 4231 test case 2).
    expect(signBody('Jefe', 'what do ya want for nothing?')).toBe('sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('verifies the right signature and refuses anything else without throwing', () => {
    const body = Buffer.from('{"a":1}');
    const good = signBody('k', body);
    expect(verifySignature('k', body, good)).toBe(true);
    expect(verifySignature('k', body, good.toUpperCase().replace('SHA256', 'sha256'))).toBe(true);
    expect(verifySignature('other', body, good)).toBe(false);
    expect(verifySignature('k', '{"a":2}', good)).toBe(false);
    for (const bad of [undefined, null, '', 'sha256=', good.slice(7), `sha1=${good.slice(7)}`, `${good}00`, 'sha256=zz'.padEnd(71, 'z')]) {
      expect(verifySignature('k', body, bad)).toBe(false);
    }
  });

  it('accepts its own signature and refuses any change to the body (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (secret, body, extra) => {
        const sig = signBody(secret, body);
        expect(verifySignature(secret, body, sig)).toBe(true);
        expect(verifySignature(secret, body + extra, sig)).toBe(false);
      }),
    );
  });

  it('puts the event id, the delivery id and the signature in the headers', () => {
    const h = deliveryHeaders({ secret: 'k', body: '{}', type: 'task.failed', eventId: 'e1', deliveryId: 'd1' });
    expect(h).toEqual({
      'Content-Type': 'application/json',
      'User-Agent': 'Jarvis-Webhook/1',
      'X-Jarvis-Signature-256': signBody('k', '{}'),
      'X-Jarvis-Event': 'task.failed',
      'X-Jarvis-Event-Id': 'e1',
      'X-Jarvis-Delivery-Id': 'd1',
    });
  });
});
