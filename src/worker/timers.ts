// Waiting and stopping, for the executor: a sleep that keeps no process alive, a timeout past
// setTimeout's 24.8-day limit, and the reason an abort signal was given.

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

/** setTimeout for delays past its 2^31-1 ms (~24.8 days) limit, which would otherwise fire at once. */
export function longTimeout(fn: () => void, ms: number): { clear(): void } {
  const MAX = 2 ** 31 - 1;
  const due = Date.now() + ms;
  let handle: NodeJS.Timeout;
  const arm = () => {
    const left = due - Date.now();
    handle = left > MAX ? setTimeout(arm, MAX) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return { clear: () => clearTimeout(handle) };
}

/** The words an abort was given (AbortController.abort("…")), or null. */
export function abortReason(signal: AbortSignal | undefined): string | null {
  const r: unknown = signal?.reason;
  if (typeof r === 'string' && r) return r;
  if (r instanceof Error && r.name !== 'AbortError') return r.message;
  return null;
}
