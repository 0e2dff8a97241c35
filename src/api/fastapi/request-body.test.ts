// Reading a body by FastAPI's rules.
import { describe, expect, it } from 'vitest';
import { HttpError, RequestValidationError } from './errors.ts';
import { fastApiReadsAsJson, MAX_JSON_DEPTH, readRequestBody, refuseDeepNesting } from './request-body.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('readRequestBody', () => {
  it('parses JSON with a JSON content type or none', () => {
    expect(readRequestBody(bytes('{"a":1}'), 'application/json')).toStrictEqual({ kind: 'json', value: { a: 1 }, text: '{"a":1}' });
    expect(readRequestBody(bytes('[1]'), null)).toStrictEqual({ kind: 'json', value: [1], text: '[1]' });
  });
  it('takes empty and null as a missing body', () => {
    expect(readRequestBody(bytes(''), 'application/json')).toStrictEqual({ kind: 'missing' });
    expect(readRequestBody(bytes(' null '), null)).toStrictEqual({ kind: 'missing' });
  });
  it('keeps the raw text of another content type', () => expect(readRequestBody(bytes('{"a":1}'), 'text/plain')).toStrictEqual({ kind: 'raw', text: '{"a":1}' }));
  it('answers bad UTF-8 with a 400', () => {
    const body = readRequestBody(new Uint8Array([0x7b, 0xff, 0x7d]), 'application/json');
    expect(body.kind === 'invalid' && body.error instanceof HttpError && body.error.status === 400 && body.error.detail).toBe('There was an error parsing the body');
  });
  it('answers malformed JSON with json_invalid', () => {
    const body = readRequestBody(bytes('{"a": }'), 'application/json');
    expect(body.kind === 'invalid' && body.error instanceof RequestValidationError && body.error.errors).toStrictEqual([
      { type: 'json_invalid', loc: ['body', 6], msg: 'JSON decode error', input: {}, ctx: { error: 'Expecting value' } },
    ]);
  });
  it('answers malformed JSON nested deeper than Python parses with a 400', () => {
    const body = readRequestBody(bytes('['.repeat(50_000)), 'application/json');
    expect(body.kind === 'invalid' && body.error instanceof HttpError && body.error.status).toBe(400);
  });
  it('refuses valid JSON nested deeper than Python parses with a 400, when asked', () => {
    const deep = (n: number) => readRequestBody(bytes(`${'['.repeat(n)}${']'.repeat(n)}`), 'application/json');
    expect(() => refuseDeepNesting(deep(MAX_JSON_DEPTH + 1))).toThrow(expect.objectContaining({ status: 400, detail: 'There was an error parsing the body' }));
    expect(() => refuseDeepNesting(deep(MAX_JSON_DEPTH))).not.toThrow();
    expect(() => refuseDeepNesting({ kind: 'missing' })).not.toThrow();
  });
});

describe('fastApiReadsAsJson', () => {
  for (const [type, json] of [
    ['application/json', true],
    ['Application/JSON; charset=utf-8', true],
    ['application/vnd.api+json', true],
    ['application/json-patch+json', true],
    ['application/jsonx', false],
    ['text/json', false],
    ['text/plain', false],
    ['', false],
  ] as const) {
    it(`${JSON.stringify(type)}: ${json}`, () => expect(fastApiReadsAsJson(type)).toBe(json));
  }
});
