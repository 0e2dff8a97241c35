/** A table cell: `s` padded to `n` characters, on the right when `right` (numbers). */
export function pad(s: string | number, n: number, right = false) {
  const t = String(s);
  return right ? t.padStart(n) : t.padEnd(n);
}
