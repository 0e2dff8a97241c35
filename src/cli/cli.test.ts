// The command line's parsing and wording, without a server: numeric flags, the HTTP client's
// handling of answers that are not Jarvis's, `submit --follow`'s exit code, a lost log stream,
// and the advice for `jarvis worker` and `jarvis keys list`.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiKeyUnusedWarning, noKeysMessage } from './advice.ts';
import { ApiClient, CliError } from './client.ts';
import { INT32_MAX, numberFlag } from './flags.ts';
import { followExitCode, followLogs } from './follow.ts';

function refusal(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    return err as CliError;
  }
  throw new Error('expected a CliError');
}

async function refusalOf(p: Promise<unknown>): Promise<CliError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CliError);
  return err as CliError;
}

const TIMEOUT = { integer: true, min: 1, max: INT32_MAX, unit: 'seconds', example: '600' };

describe('numberFlag', () => {
  it('takes plain decimal numbers in range', () => {
    expect(numberFlag('--timeout', '600', TIMEOUT)).toBe(600);
    expect(numberFlag('--timeout', ' 30 ', TIMEOUT)).toBe(30);
    expect(numberFlag('--cpu', '0.5', { above: 0, example: '4' })).toBe(0.5);
    expect(numberFlag('--cpu', '.5', { above: 0, example: '4' })).toBe(0.5);
    expect(numberFlag('--port', '0', { integer: true, min: 0, max: 65535, example: '8000' })).toBe(0);
    expect(numberFlag('--port', '65535', { integer: true, min: 0, max: 65535, example: '8000' })).toBe(65535);
  });

  it('refuses what Number() would turn into NaN, and says which flag, what was given and a valid value', () => {
    // Number("10m") is NaN, and JSON.stringify(NaN) is null: "no timeout" for the API.
    expect(refusal(() => numberFlag('--timeout', '10m', TIMEOUT)).message).toBe(
      '--timeout must be a whole number of seconds from 1 to 2147483647, got "10m" (10m is 600 seconds: --timeout 600)',
    );
    expect(refusal(() => numberFlag('--starting-deadline-seconds', '5m', { ...TIMEOUT, example: '300' })).message).toContain(
      'got "5m" (5m is 300 seconds: --starting-deadline-seconds 300)',
    );
    expect(refusal(() => numberFlag('--port', 'abc', { integer: true, min: 0, max: 65535, example: '8000' })).message).toBe(
      '--port must be a whole number from 0 to 65535, got "abc" (e.g. --port 8000)',
    );
  });

  it.each([
    ['empty', ''],
    ['blank', '  '],
    ['hex', '0x10'],
    ['Infinity', 'Infinity'],
    ['NaN', 'NaN'],
    ['a fraction for a whole number', '1.5'],
    ['below the range', '0'],
    ['negative', '-5'],
    ['above the range', String(INT32_MAX + 1)],
    ['a number with a unit of bytes', '512Mi'],
    ['two dots', '1.2.3'],
  ])('refuses %s', (_what, given) => {
    const err = refusal(() => numberFlag('--timeout', given, TIMEOUT));
    expect(err.message).toMatch(/^--timeout must be a whole number of seconds from 1 to 2147483647, got ".*" \(/);
    expect(err.message).toContain(`got "${given}"`);
  });

  it('words each kind of range', () => {
    expect(refusal(() => numberFlag('--weight', '0', { above: 0, max: 1_000_000, example: '2' })).message).toBe('--weight must be a number > 0 and ≤ 1000000, got "0" (e.g. --weight 2)');
    expect(refusal(() => numberFlag('--nodes', '0', { integer: true, min: 1, example: '100' })).message).toBe('--nodes must be a whole number ≥ 1, got "0" (e.g. --nodes 100)');
    // A duration whose seconds are out of range is not offered as the fix.
    expect(refusal(() => numberFlag('--timeout', '0s', TIMEOUT)).message).toContain('(e.g. --timeout 600)');
    expect(refusal(() => numberFlag('--timeout', '1.5s', TIMEOUT)).message).toContain('(1.5s is 2 seconds: --timeout 2)');
  });
});

describe('followExitCode (submit --follow)', () => {
  it('is 0 only for a succeeded task', () => {
    expect(followExitCode({ status: 'succeeded', exit_code: 0 })).toBe(0);
    expect(followExitCode({ status: 'succeeded', exit_code: null })).toBe(0);
  });

  it('is the exit code of a task that did not succeed, or 1 when that is 0 or none', () => {
    expect(followExitCode({ status: 'failed', exit_code: 4 })).toBe(4);
    expect(followExitCode({ status: 'timed_out', exit_code: 137 })).toBe(137);
    // Before: `exit_code ?? …` made these 0.
    expect(followExitCode({ status: 'failed', exit_code: 0 })).toBe(1);
    expect(followExitCode({ status: 'cancelled', exit_code: 0 })).toBe(1);
    expect(followExitCode({ status: 'cancelled', exit_code: null })).toBe(1);
    expect(followExitCode({ status: 'running', exit_code: null })).toBe(1);
    // 256 would exit 0 (exit codes are taken modulo 256); a negative one is not a process's.
    expect(followExitCode({ status: 'failed', exit_code: 256 })).toBe(1);
    expect(followExitCode({ status: 'failed', exit_code: -1 })).toBe(1);
  });
});

/** A fetch that answers every request with this body, status and content type. */
function answering(body: string, status: number, type: string): typeof fetch {
  return (async () => new Response(body, { status, headers: { 'content-type': type } })) as typeof fetch;
}

const PROXY_502 = `<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n${'<!-- padding -->'.repeat(40)}`;

describe('ApiClient and answers that are not JSON', () => {
  it('says an HTML 502 is not a JSON answer, with the start of it, instead of a SyntaxError', async () => {
    const api = new ApiClient('http://jarvis.example:8000', null, answering(PROXY_502, 502, 'text/html'));
    const err = await refusalOf(api.request('GET', '/tasks?limit=20'));
    expect(err.message).toBe(
      'GET http://jarvis.example:8000/tasks?limit=20: HTTP 502, not a JSON answer (is --api-url / JARVIS_API_URL pointing at Jarvis?): ' +
        PROXY_502.replace(/\s+/g, ' ').slice(0, 200),
    );
  });

  it('says a successful status with a body that is not JSON is not Jarvis either', async () => {
    const api = new ApiClient('http://127.0.0.1:3000', null, answering('<!doctype html><title>Grafana</title>', 200, 'text/html'));
    const err = await refusalOf(api.request('POST', '/tasks', { image: 'x' }));
    expect(err.message).toBe('POST http://127.0.0.1:3000/tasks: HTTP 200, not a JSON answer (is --api-url / JARVIS_API_URL pointing at Jarvis?): <!doctype html><title>Grafana</title>');
  });

  it('still words the API\'s own JSON errors as before', async () => {
    const api = new ApiClient('http://127.0.0.1:8000', null, answering('{"detail":"Task not found"}', 404, 'application/json'));
    expect((await refusalOf(api.request('GET', '/tasks/x'))).message).toBe('GET /tasks/x answered 404: Task not found');
    const empty = new ApiClient('http://127.0.0.1:8000', null, answering('', 502, 'text/plain'));
    expect((await refusalOf(empty.request('GET', '/tasks'))).message).toBe('GET /tasks answered 502: (an empty answer)');
  });

  it('says so when a log stream is answered with something other than an event stream', async () => {
    const html = new ApiClient('http://127.0.0.1:8000', null, answering(PROXY_502, 502, 'text/html'));
    expect((await refusalOf(html.events('/tasks/x/logs?follow=true').next())).message).toMatch(/^GET http:\/\/127\.0\.0\.1:8000\/tasks\/x\/logs\?follow=true: HTTP 502, not a JSON answer/);
    const page = new ApiClient('http://127.0.0.1:8000', null, answering('<html>hi</html>', 200, 'text/html'));
    expect((await refusalOf(page.events('/tasks/x/logs?follow=true').next())).message).toContain('HTTP 200, not an event stream (content-type text/html)');
  });
});

describe('followLogs', () => {
  afterEach(() => vi.restoreAllMocks());

  function streaming(chunks: string[], fail?: Error): typeof fetch {
    return (async () =>
      new Response(
        new ReadableStream({
          start(c) {
            for (const ch of chunks) c.enqueue(new TextEncoder().encode(ch));
            if (fail) c.error(fail);
            else c.close();
          },
        }),
        { status: 200, headers: { 'content-type': 'text/event-stream' } },
      )) as typeof fetch;
  }

  it('prints the lines and returns at the end event', async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    await followLogs(new ApiClient('http://127.0.0.1:8000', null, streaming(['data: one\n\n', 'data: two\n\nevent: end\ndata: {}\n\n'])), 'T');
    expect(out.mock.calls.map((c) => c[0])).toEqual(['one\n', 'two\n']);
  });

  it('is an error when the stream ends without its end event (before: it returned as if the task had ended)', async () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const api = new ApiClient('http://127.0.0.1:8000', null, streaming(['data: one\n\n']));
    const err = await refusalOf(followLogs(api, 'T1'));
    expect(err.message).toBe(
      'the log stream of task T1 stopped before the task ended (the connection closed); the task may still be running. ' +
        'Follow it again with `jarvis logs -f T1`, or see its state with GET http://127.0.0.1:8000/tasks/T1 (or `jarvis tasks`)',
    );
    const broken = new ApiClient('http://127.0.0.1:8000', null, streaming(['data: one\n\n'], new TypeError('terminated')));
    expect((await refusalOf(followLogs(broken, 'T2'))).message).toMatch(/^the log stream of task T2 stopped before the task ended \(terminated\)/);
  });
  it("stops with the server's words at a refused event (a revoked key), printing them as no line of output", async () => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const detail = 'This log stream was ended: its API key is no longer accepted (revoked). Follow the task again with a valid key';
    const api = new ApiClient('http://127.0.0.1:8000', null, streaming(['data: one\n\n', `event: refused\ndata: ${JSON.stringify({ detail })}\n\n`]));
    const err = await refusalOf(followLogs(api, 'T3'));
    expect(err.message).toBe(`the log stream of task T3 was ended by the server: ${detail}`);
    expect(out.mock.calls.map((c) => c[0])).toEqual(['one\n']);
  });
});

describe('advice', () => {
  it('warns a worker that JARVIS_API_KEY is not used when no registration token is set', () => {
    const none = { nodes: { registration_token: null } };
    expect(apiKeyUnusedWarning({ JARVIS_API_KEY: 'jvk_abc' }, none)).toMatch(
      /^JARVIS_API_KEY is not used by `jarvis worker`; put the registration token \(or an admin key\) in JARVIS_REGISTRATION_TOKEN/,
    );
    expect(apiKeyUnusedWarning({ JARVIS_API_KEY: 'jvk_abc' }, { nodes: { registration_token: 'tok' } })).toBeNull();
    expect(apiKeyUnusedWarning({}, none)).toBeNull();
    expect(apiKeyUnusedWarning({ JARVIS_API_KEY: '  ' }, none)).toBeNull();
  });

  it('words "no keys" for what the configuration would start', () => {
    expect(noKeysMessage({ host: '127.0.0.1', insecure: false }, null)).toMatch(/^no keys: the API is in open mode, no key needed, answering only on loopback \(127\.0\.0\.1\)/);
    const admin = noKeysMessage({ host: '127.0.0.1', insecure: false }, 'secret');
    expect(admin).toMatch(/^no keys in the database; open mode is off because JARVIS_ADMIN_KEY is set/);
    expect(admin).not.toContain('secret');
    expect(noKeysMessage({ host: '0.0.0.0', insecure: true }, null)).toMatch(/^no keys: the API is in open mode on 0\.0\.0\.0 because of --insecure \(JARVIS_INSECURE\)/);
    expect(noKeysMessage({ host: '0.0.0.0', insecure: false }, null)).toMatch(/^no keys: a control plane on 0\.0\.0\.0 refuses to start until a key exists/);
    for (const m of [admin, noKeysMessage({ host: '0.0.0.0', insecure: true }, null), noKeysMessage({ host: '0.0.0.0', insecure: false }, null)]) expect(m).not.toContain('loopback');
  });
});
