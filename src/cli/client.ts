// The CLI's HTTP client: talks to the API like any other client and turns its errors into
// messages a person can act on.
import { fetchErrorText, isCertificateError } from '../tls/trusted-fetch.ts';

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
    let res: Response;
    try {
      res = await this.fetch(new URL(path, this.baseUrl), {
        method,
        headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw unreachable(this.baseUrl, err);
    }
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (res.status === 401) throw new CliError(`${method} ${path} answered 401: ${this.apiKey ? 'the API key in JARVIS_API_KEY is unknown or revoked' : 'this Jarvis needs an API key: set JARVIS_API_KEY (make one with `npx jarvis keys create`)'}`);
    if (!res.ok) throw new CliError(`${method} ${path} answered ${res.status}: ${formatDetail(data?.detail ?? text)}`);
    return data as T;
  }

  /** Yields each Server-Sent Event (event name and data) until the stream ends. */
  async *events(path: string): AsyncGenerator<{ event: string; data: string }> {
    let res: Response;
    try {
      res = await this.fetch(new URL(path, this.baseUrl), { headers: this.headers({ accept: 'text/event-stream' }) });
    } catch (err) {
      throw unreachable(this.baseUrl, err);
    }
    if (!res.ok || !res.body) throw new CliError(`GET ${path} answered ${res.status}: ${formatDetail(((await res.json().catch(() => null)) as { detail?: unknown } | null)?.detail)}`);
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
  return new CliError(`cannot reach Jarvis at ${baseUrl} (${fetchErrorText(err)}).${what}`);
}

function formatDetail(detail: unknown): string {
  if (Array.isArray(detail)) {
    return detail.map((d: { loc?: unknown[]; msg?: string }) => `${(d.loc ?? []).join('.')}: ${d.msg}`).join('; ');
  }
  return typeof detail === 'string' ? detail : JSON.stringify(detail);
}
