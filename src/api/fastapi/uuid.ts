// UUIDs as pydantic reads `uuid.UUID`: any version, any case, hyphenated, 32 hex digits,
// `{braced}` or `urn:uuid:`; a failure carries the message of Rust's `uuid` crate.

/** The message of Rust's `uuid` crate (which pydantic-core uses) for `value`, or undefined if it parses. */
export function uuidError(value: string): string | undefined {
  const bytes = new TextEncoder().encode(value);
  const lenOk = (n: number) => bytes.length === n;
  const isHex = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
  const hyphenated = (s: string) => /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s);
  if ((lenOk(32) && /^[0-9a-fA-F]{32}$/.test(value)) || (lenOk(36) && hyphenated(value))) return undefined;
  if (lenOk(38) && value.startsWith('{') && value.endsWith('}') && hyphenated(value.slice(1, -1))) return undefined;
  if (lenOk(45) && value.startsWith('urn:uuid:') && hyphenated(value.slice(9))) return undefined;

  let inner = value;
  let offset = 0;
  let simple = true;
  if (value.length >= 2 && value.startsWith('{') && value.endsWith('}')) [inner, offset, simple] = [value.slice(1, -1), 1, false];
  else if (value.startsWith('urn:uuid:')) [inner, offset, simple] = [value.slice(9), 9, false];

  let hyphens = 0;
  const groupBounds: number[] = [];
  let index = 0; // byte offset in `inner`, as Rust's char_indices gives
  for (const ch of inner) {
    const code = ch.codePointAt(0) as number;
    if (code > 0x7f) return `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${ch}\` at ${index + offset + 1}`;
    if (ch === '-') {
      if (hyphens < 4) groupBounds[hyphens] = index;
      hyphens++;
    } else if (!isHex(code)) {
      return `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${ch}\` at ${index + offset + 1}`;
    }
    index += new TextEncoder().encode(ch).length;
  }
  if (hyphens === 0 && simple) return `invalid length: expected length 32 for simple format, found ${bytes.length}`;
  if (hyphens !== 4) return `invalid group count: expected 5, found ${hyphens + 1}`;
  const starts = [0, 9, 14, 19, 24];
  const expected = [8, 4, 4, 4, 12];
  for (let i = 0; i < 4; i++) {
    if (groupBounds[i] !== (starts[i + 1] as number) - 1) {
      return `invalid group length in group ${i}: expected ${expected[i]}, found ${(groupBounds[i] as number) - (starts[i] as number)}`;
    }
  }
  return `invalid group length in group 4: expected 12, found ${bytes.length - 24}`;
}

/** Pydantic's uuid_parsing error text for `value`. */
export function uuidParsing(value: string): { type: 'uuid_parsing'; msg: string; ctx: { error: string } } {
  const error = uuidError(value) ?? 'failed to parse a UUID';
  return { type: 'uuid_parsing', msg: `Input should be a valid UUID, ${error}`, ctx: { error } };
}
