// Python's json.loads errors, for FastAPI's json_invalid item: the message and the position (in
// code points) CPython's scanner reports for a text JSON.parse refused, and whether it would
// stop at its recursion limit before any syntax error (FastAPI then answers 400).

class StopScan {
  constructor(readonly idx: number) {}
}
class TooDeep {}
class DecodeError {
  constructor(
    readonly msg: string,
    readonly idx: number,
  ) {}
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** What json.loads in CPython would do with a text JSON.parse refused. */
export type PythonJsonFailure = { msg: string; pos: number } | 'too_deep';

/**
 * The error CPython's json module (C scanner, before 3.13) reports for `text`: message and
 * position in code points; 'too_deep' when it would hit the recursion limit first (more than
 * `maxDepth` arrays/objects open); undefined if Python would parse it. NaN and Infinity, which
 * Python accepts and JSON.parse does not, are reported as "Expecting value" on purpose.
 */
export function pythonJsonDecodeError(text: string, maxDepth: number): PythonJsonFailure | undefined {
  const len = text.length;
  let depth = 0;
  const isWs = (ch: string | undefined) => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
  const ws = (i: number) => {
    while (i < len && isWs(text[i])) i++;
    return i;
  };

  const scanString = (start: number): number => {
    const begin = start - 1;
    let i = start;
    for (;;) {
      while (i < len) {
        const ch = text.charCodeAt(i);
        if (ch === 0x22 || ch === 0x5c) break;
        if (ch <= 0x1f) throw new DecodeError('Invalid control character at', i);
        i++;
      }
      if (i >= len) throw new DecodeError('Unterminated string starting at', begin);
      if (text[i] === '"') return i + 1;
      const esc = i + 1;
      if (esc >= len) throw new DecodeError('Unterminated string starting at', begin);
      if (text[esc] !== 'u') {
        if (!ESCAPES.has(text[esc] as string)) throw new DecodeError('Invalid \\escape', i);
        i = esc + 1;
        continue;
      }
      if (esc + 5 >= len || !HEX4.test(text.slice(esc + 1, esc + 5))) throw new DecodeError('Invalid \\uXXXX escape', esc);
      i = esc + 5;
    }
  };

  const scanOnce = (i: number): number => {
    if (i >= len) throw new StopScan(i);
    const ch = text[i];
    if (ch === '"') return scanString(i + 1);
    if (ch === '{' || ch === '[') {
      if (++depth > maxDepth) throw new TooDeep();
      const end = ch === '{' ? parseObject(i + 1) : parseArray(i + 1);
      depth--;
      return end;
    }
    if (ch === 'n' && text.startsWith('null', i)) return i + 4;
    if (ch === 't' && text.startsWith('true', i)) return i + 4;
    if (ch === 'f' && text.startsWith('false', i)) return i + 5;
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m) return i + m[0].length;
    throw new StopScan(i);
  };

  const parseObject = (start: number): number => {
    let i = ws(start);
    if (i < len && text[i] === '}') return i + 1;
    for (;;) {
      if (i >= len || text[i] !== '"') throw new DecodeError('Expecting property name enclosed in double quotes', i);
      i = ws(scanString(i + 1));
      if (i >= len || text[i] !== ':') throw new DecodeError("Expecting ':' delimiter", i);
      i = ws(scanOnce(ws(i + 1)));
      if (i < len && text[i] === '}') return i + 1;
      if (i >= len || text[i] !== ',') throw new DecodeError("Expecting ',' delimiter", i);
      i = ws(i + 1);
    }
  };

  const parseArray = (start: number): number => {
    let i = ws(start);
    if (i < len && text[i] === ']') return i + 1;
    for (;;) {
      i = ws(scanOnce(i));
      if (i < len && text[i] === ']') return i + 1;
      if (i >= len || text[i] !== ',') throw new DecodeError("Expecting ',' delimiter", i);
      i = ws(i + 1);
    }
  };

  const codePoints = (idx: number) => Array.from(text.slice(0, idx)).length;
  try {
    const end = ws(scanOnce(ws(0)));
    if (end !== len) return { msg: 'Extra data', pos: codePoints(end) };
    return undefined;
  } catch (err) {
    if (err instanceof StopScan) return { msg: 'Expecting value', pos: codePoints(err.idx) };
    if (err instanceof DecodeError) return { msg: err.msg, pos: codePoints(err.idx) };
    if (err instanceof TooDeep) return 'too_deep';
    throw err;
  }
}

/**
 * Whether a text JSON.parse accepted opens more than `maxDepth` arrays/objects at once; linear,
 * no recursion. Python's json.loads recurses once per level and fails at its recursion limit.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  if (text.length <= 2 * maxDepth) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c) i++; // the escaped character cannot end the string
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return false;
}
