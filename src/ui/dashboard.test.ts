// The dashboard's own failures: an error no page expected is a log line (with the request id) and
// the dashboard's 500 page, not Hono's default answer with the stack on stderr.
import { Hono } from 'hono';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { Authenticator } from '../auth/authenticator.ts';
import { OPEN_MODE } from '../auth/principal.ts';
import { dashboard } from './dashboard.tsx';
import type { DashboardSessions } from './session-store.ts';

/** An open-mode authenticator: every page is served without a sign-in. */
const openMode = { isOpen: async () => true, authenticate: async () => ({ ok: true, principal: OPEN_MODE }) } as unknown as Authenticator;

describe('dashboard errors', () => {
  it('logs an unexpected error with its request id and answers the 500 page', async () => {
    const logged: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const ui = dashboard({
      request: () => {
        throw new Error('the API is not there');
      },
      authenticator: openMode,
      clientAddress: () => null,
      // Open mode: no session is read.
      sessions: {} as DashboardSessions,
      logger,
    });
    const app = new Hono().route('/ui', ui);
    const stderr = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const res = await app.request('/ui/tasks', { headers: { host: '127.0.0.1' } }, { requestId: 'req-1' });
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const body = await res.text();
      expect(body).toContain('500 — something went wrong');
      expect(body).toContain('request req-1');
      expect(body).not.toContain('the API is not there');
      // Before session 33: Hono's "Internal Server Error" in plain text, and console.error.
      expect(stderr).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
    }
    expect(logged).toEqual([
      expect.objectContaining({ level: 50, msg: 'dashboard: unexpected error', request_id: 'req-1', path: '/ui/tasks', err: expect.objectContaining({ message: 'the API is not there' }) }),
    ]);
  });
});
