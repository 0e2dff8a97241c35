// How much one page of a list may weigh. A task stored through a batch or a workflow may be as
// large as that body's limit (server.max_workflow_body_bytes, 10 MiB), a schedule's template 1 MiB:
// a page of 500 such rows, read and serialised whole, was ~630 M characters, past V8's longest
// string (~537 M): a 500 after 8-15 s and the server's RSS up by 1 GB (test/size-limits.e2e found
// it). The rows' sizes are read first, in PostgreSQL (TaskStore.pageSizes); a page over
// MAX_PAGE_BYTES is refused with a 422 on `limit` that says how many of its items fit. Nothing is
// cut silently: a client paging by `offset += limit` would skip what a cut page left out.
import { InvalidInput } from '../domain/errors.ts';

/** The most bytes of rows (their text form) one list page reads. */
export const MAX_PAGE_BYTES = 32 * 1024 * 1024;

const mb = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;

/** Refuses a page whose rows (`sizes`, in page order) weigh more than MAX_PAGE_BYTES in all. */
export function checkPageBytes(sizes: number[], limit: number, what: string): void {
  let total = 0;
  let fit = 0;
  for (const b of sizes) {
    total += b;
    if (total <= MAX_PAGE_BYTES) fit++;
  }
  if (total <= MAX_PAGE_BYTES) return;
  const advice =
    fit > 0
      ? `ask for at most ${fit} (limit=${fit}) and go on with offset`
      : `its first item alone weighs ${mb(sizes[0])}: read it by its id`;
  throw new InvalidInput([
    {
      type: 'page_too_large',
      loc: ['query', 'limit'],
      msg: `This page of ${sizes.length} ${what} weighs ${mb(total)}, more than one answer may hold (${mb(MAX_PAGE_BYTES)}); ${advice}`,
      input: limit,
      ctx: { fits: fit, max_bytes: MAX_PAGE_BYTES },
    },
  ]);
}
