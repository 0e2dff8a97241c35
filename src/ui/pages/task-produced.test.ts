// What a task produced on its page: `result` and `outputs` when the API's task JSON has them, and
// nothing at all when it does not (the fields are added to the API separately).
import { describe, expect, it } from 'vitest';
import type { Task } from '../wire.ts';
import { Produced } from './task.tsx';

const html = (task: Partial<Task>) => String(Produced({ task: task as Task }) ?? '');

describe('task page: result and outputs', () => {
  it('shows nothing when the task has neither (or has them null)', () => {
    expect(html({ id: 'x' })).toBe('');
    expect(html({ id: 'x', result: null, outputs: null })).toBe('');
  });

  it('lists flat outputs as names and values, escaped', () => {
    const out = html({ outputs: { rows: 42, path: 's3://bucket/<x>' } });
    expect(out).toContain('<h2 id="produced-heading">Outputs</h2>');
    expect(out).toMatch(/<dt class="mono">rows<\/dt><dd class="mono">42<\/dd>/);
    expect(out).toContain('s3://bucket/&lt;x&gt;');
  });

  it('shows a nested result as JSON, beside the outputs', () => {
    const out = html({ result: { ok: true, stats: { n: 3 } }, outputs: { a: '1' } });
    expect(out).toContain('Result and Outputs');
    expect(out).toContain('data-testid="task-result"');
    expect(out).toContain('&quot;stats&quot;: {');
    expect(out).toContain('data-testid="task-outputs"');
  });
});
