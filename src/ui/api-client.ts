// The dashboard's only way to the data: Jarvis's own JSON API, called in-process with the signed-in
// key. Every tenant rule and role check of the API therefore holds in the UI unchanged, and its
// audit records name the browser's address (handed over with the call, not in a header).

/**
 * `app.request` of the API, or anything that answers a Request the same way; `client` is the
 * address of the browser the call is made for, which the API's audit records name.
 */
export type ApiRequest = (path: string, init: RequestInit, client: string | null) => Response | Promise<Response>;

export interface ApiAnswer<T> {
  status: number;
  body: T;
  /** The answer's ETag header (GET /workflows/{id} has one), or null. */
  etag: string | null;
}

/** The API's error body (`{"detail": ...}`) in words, whatever shape it had. */
export function detailOf(body: unknown): string {
  const d = (body as { detail?: unknown } | null)?.detail;
  if (typeof d === 'string') return d;
  if (Array.isArray(d)) return d.map((i: { msg?: string; loc?: unknown[] }) => `${(i.loc ?? []).join('.')}: ${i.msg ?? ''}`).join('; ');
  return 'the API gave no reason';
}

export class ApiClient {
  constructor(
    private readonly request: ApiRequest,
    private readonly key: string | null,
    /** The browser's address (null when the server cannot tell). */
    private readonly client: string | null,
  ) {}

  private headers(): Record<string, string> {
    return this.key ? { authorization: `Bearer ${this.key}` } : {};
  }

  /** `extra`: more request headers, e.g. If-None-Match (a 304 has the body null). */
  async call<T = unknown>(method: string, path: string, extra: Record<string, string> = {}): Promise<ApiAnswer<T>> {
    const res = await this.request(path, { method, headers: { ...extra, ...this.headers() } }, this.client);
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (/metrics): the text as it is.
    }
    return { status: res.status, body: body as T, etag: res.headers.get('etag') };
  }

  get<T = unknown>(path: string, extra?: Record<string, string>): Promise<ApiAnswer<T>> {
    return this.call<T>('GET', path, extra);
  }

  post<T = unknown>(path: string): Promise<ApiAnswer<T>> {
    return this.call<T>('POST', path);
  }

  /** The raw answer, for relaying a stream (the log follower). */
  stream(path: string, signal: AbortSignal): Promise<Response> {
    return Promise.resolve(this.request(path, { method: 'GET', headers: this.headers(), signal }, this.client));
  }
}
