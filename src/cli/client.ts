// The CLI's HTTP client: talks to the API like any other client and turns its errors into
// messages a person can act on.
import { fetchErrorText, isCertificateError } from '../tls/trusted-fetch.ts';
import { redactUrl } from '../config/log-redaction.ts';

export class ApiClient {
  /**
   * `apiKey`: sent as `Authorization: Bearer KEY` (JARVIS_API_KEY); none in open mode.
   * `fetch`: the global one, or one trusting JARVIS_CA_FILE (src/tls/trusted-fetch.ts).
   */
  constructor(
    readonly baseUrl: string,
    private readonly apiKey: string | null = null,
    private readonly fetch: typeof globalThis.fetch = globalThis.fetch,
  ) {}

  private headers(extra: Record<string, string>): Record<string, string> {
    return this.apiKey ? { ...extra, authorization: `Bearer ${this.apiKey}` } : extra;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path, this.baseUrl);
    let res: Response;
    let text: string;
    try {
      res = await this.fetch(url, {
        method,
        headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      text = await res.text();
    } catch (err) {
      throw unreachable(this.baseUrl, err);
    }
    // Parsed before the status is looked at, but never trusted to be JSON: a proxy's HTML 502,
    // or --api-url pointed at another service, is said as such rather than a SyntaxError.
    let data: { detail?: unknown } | null = null;
    if (text) {
      try {
        data = JSON.parse(text) as { detail?: unknown } | null;
      } catch {
        throw notJarvis(method, url, res.status, 'not a JSON answer', text);
      }
    }
    if (!res.ok) throw this.refused(method, path, res.status, data, text);
    return data as T;
  }

  /** A JSON error answer from Jarvis, in words (401: what to do about the key). */
  private refused(method: string, path: string, status: number, data: { detail?: unknown } | null, text: string): CliError {
    if (status === 401) return new CliError(`${method} ${path} answered 401: ${this.apiKey ? 'the API key in JARVIS_API_KEY is unknown or revoked' : 'this Jarvis needs an API key: set JARVIS_API_KEY (make one with `npx jarvis keys create`)'}`);
    return new CliError(`${method} ${path} answered ${status}: ${text ? formatDetail(data?.detail ?? text) : '(an empty answer)'}`);
  }

  /** Yields each Server-Sent Event (event name and data) until the stream ends. */
  async *events(path: string): AsyncGenerator<{ event: string; data: string }> {
    const url = new URL(path, this.baseUrl);
    let res: Response;
    try {
      res = await this.fetch(url, { headers: this.headers({ accept: 'text/event-stream' }) });
    } catch (err) {
      throw unreachable(this.baseUrl, err);
    }
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      let data: { detail?: unknown } | null = null;
      try {
        data = text ? (JSON.parse(text) as { detail?: unknown } | null) : null;
      } catch {
        throw notJarvis('GET', url, res.status, 'not a JSON answer', text);
      }
      throw this.refused('GET', path, res.status, data, text);
    }
    const type = res.headers.get('content-type') ?? '';
    if (!type.toLowerCase().startsWith('text/event-stream')) {
      throw notJarvis('GET', url, res.status, `not an event stream (content-type ${type || 'none'})`, await res.text().catch(() => ''));
    }
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).startsWith(' ') ? line.slice(6) : line.slice(5));
        }
        yield { event, data: data.join('\n') };
      }
    }
  }
}

export class CliError extends Error {}

function unreachable(baseUrl: string, err: unknown): CliError {
  // A certificate error already says what to do (JARVIS_CA_FILE).
  const what = isCertificateError(err) ? '' : ' Is it running? Start it with `npx jarvis up`, or point --api-url / JARVIS_API_URL at it.';
  return new CliError(`cannot reach Jarvis at ${redactUrl(baseUrl)} (${fetchErrorText(err)}).${what}`);
}

/** An answer that is not Jarvis's: which request, its status, and the start of what came back. */
function notJarvis(method: string, url: URL, status: number, what: string, text: string): CliError {
  const start = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new CliError(`${method} ${redactUrl(url.href)}: HTTP ${status}, ${what} (is --api-url / JARVIS_API_URL pointing at Jarvis?): ${start || '(an empty answer)'}`);
}

function formatDetail(detail: unknown): string {
  if (Array.isArray(detail)) {
    return detail.map((d: { loc?: unknown[]; msg?: string }) => `${(d.loc ?? []).join('.')}: ${d.msg}`).join('; ');
  }
  return typeof detail === 'string' ? detail : JSON.stringify(detail);
}
