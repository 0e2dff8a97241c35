// What the processes complain about: warnings, errors and stray stderr lines, counted by message
// while they stream (the kept output is capped, and a run this long logs every request).
import type { Readable } from 'node:stream';
import type { JarvisProcess } from './jarvis.ts';

export interface LogProblems {
  warnings: number;
  errors: number;
  other_lines: number;
  by_message: Array<{ level: string; msg: string; count: number; example: string }>;
  other_examples: string[];
}

export function watchProblems(p: JarvisProcess): () => LogProblems {
  const byMsg = new Map<string, { level: string; msg: string; count: number; example: string }>();
  let warnings = 0;
  let errors = 0;
  let other = 0;
  const otherExamples: string[] = [];
  const line = (raw: string) => {
    if (!raw.trim()) return;
    if (raw.startsWith('{')) {
      // Cheap test first: only warnings (40) and worse are parsed.
      const m = /"level":(\d+)/.exec(raw);
      if (!m || Number(m[1]) < 40) return;
      let j: Record<string, unknown>;
      try {
        j = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return;
      }
      const level = Number(j.level) >= 50 ? 'error' : 'warn';
      if (level === 'error') errors++;
      else warnings++;
      // Counted by the message with names, ids and numbers taken out ("node NODE is unhealthy: …").
      const plain = (x: unknown) =>
        String(x ?? '')
          .replace(/\bnode-[\w.-]+/g, 'NODE')
          .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'ID')
          .replace(/\d+/g, 'N');
      const errMsg = (j.err as { message?: string } | undefined)?.message;
      const msg = plain(j.msg) + (errMsg ? ` — ${plain(errMsg).slice(0, 120)}` : '');
      const key = `${level} ${msg}`;
      const e = byMsg.get(key) ?? { level, msg, count: 0, example: raw.slice(0, 600) };
      e.count++;
      byMsg.set(key, e);
    } else {
      other++;
      if (otherExamples.length < 5) otherExamples.push(raw.slice(0, 300));
    }
  };
  for (const raw of p.output().split('\n').slice(0, -1)) line(raw);
  const follow = (s: Readable | null) => {
    let buf = '';
    s?.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) line(l);
    });
  };
  follow(p.child.stdout);
  follow(p.child.stderr);
  return () => ({
    warnings,
    errors,
    other_lines: other,
    by_message: [...byMsg.values()].sort((a, b) => b.count - a.count).slice(0, 8),
    other_examples: otherExamples,
  });
}
