// Text PostgreSQL cannot store: the NUL character (text and jsonb refuse it) and an unpaired
// UTF-16 surrogate (jsonb refuses its escape; a text column gets U+FFFD in its place). The API
// refuses requests holding them (api/fastapi/unstorable-text.ts); what the server records about
// a request on its own (an audit record's target, taken from the path) makes them storable.

/** A high surrogate not followed by a low one, or a low one not after a high one. */
export const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNPAIRED_SURROGATES = new RegExp(UNPAIRED_SURROGATE.source, 'g');

/** The text with each NUL and unpaired surrogate replaced by U+FFFD. */
export function storableText(s: string): string {
  return s.replaceAll('\u0000', '\uFFFD').replace(UNPAIRED_SURROGATES, '\uFFFD');
}
