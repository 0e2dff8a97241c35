// Sending one generated request to both servers and comparing what a client sees: the status,
// the Allow header of a 405, and for a 422 the list of (type, loc, msg) items in order.
import type { Case } from './types.ts';

export interface Answer {
  status: number;
  allow: string | null;
  /** The 422 items as `type @ loc: msg`, in order. */
  items: string[] | null;
  /** The same items, parsed. */
  errors: ErrorItem[];
  /** The body, cut short, for the report. */
  text: string;
}

export interface ErrorItem {
  type: string;
  loc: Array<string | number>;
  msg: string;
}

export const itemKey = (e: ErrorItem) => `${e.type} @ ${JSON.stringify(e.loc)}: ${e.msg}`;

export interface Difference {
  case: Case;
  ref: Answer;
  jarvis: Answer;
}

export async function ask(base: string, c: Case, attempt = 1): Promise<Answer> {
  const headers: Record<string, string> = c.body === undefined ? {} : { 'content-type': 'application/json' };
  let res: Response;
  try {
    res = await fetch(base + c.path, {
      method: c.method,
      headers: { ...headers, ...c.headers },
      body: c.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    // A kept-alive connection the server closed as the request went out: try once more. No HTTP
    // answer twice (connection closed, reset) is an answer of its own, status 0.
    if (attempt === 1) return ask(base, c, 2);
    const e = err as Error & { cause?: Error };
    return { status: 0, allow: null, items: null, errors: [], text: `no answer: ${e.cause?.message ?? e.message}` };
  }
  const text = await res.text();
  let items: string[] | null = null;
  let errors: ErrorItem[] = [];
  if (res.status === 422) {
    try {
      errors = (JSON.parse(text).detail as ErrorItem[]).map(({ type, loc, msg }) => ({ type, loc, msg }));
      items = errors.map(itemKey);
    } catch {
      items = [`(not a FastAPI 422 body) ${text.slice(0, 200)}`];
    }
  }
  const allow = res.headers.get('allow');
  return { status: res.status, allow: allow && allow.split(',').map((m) => m.trim().toUpperCase()).sort().join(', '), items, errors, text: text.slice(0, 300) };
}

export function sameAnswer(a: Answer, b: Answer): boolean {
  if (a.status !== b.status) return false;
  if (a.status === 405 && a.allow !== b.allow) return false;
  if (a.status === 422) return JSON.stringify(a.items) === JSON.stringify(b.items);
  return true;
}

/** Runs `f` over `items` with at most `n` at once, keeping the order of the results. */
export async function pool<T, R>(items: T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]);
      }
    }),
  );
  return out;
}

/** One line per answer, for the report. */
export function show(a: Answer): string {
  if (a.status === 422) return `422 ${(a.items ?? []).join(' | ')}`;
  if (a.status === 405) return `405 Allow: ${a.allow ?? '(none)'}`;
  return `${a.status} ${a.text.slice(0, 120)}`;
}

export function describeCase(c: Case): string {
  const body = c.body === undefined ? '' : ` ${c.body.length > 160 ? `${c.body.slice(0, 160)}… (${c.body.length} chars)` : c.body}`;
  const headers = c.headers ? ` [${Object.entries(c.headers).map(([k, v]) => `${k}: ${v}`).join('; ')}]` : '';
  return `${c.method} ${c.path.length > 120 ? `${c.path.slice(0, 120)}…` : c.path}${headers}${body}`;
}
