import { PgDialect } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { FIT_GUARD } from './node-reservations.ts';

describe('the reservation guard', () => {
  it('is the domain fit rule written as SQL over the nodes row and the summed asks', () => {
    const { sql, params } = new PgDialect().sqlToQuery(FIT_GUARD);
    expect(sql).toBe(
      'nodes.allocated_tasks + r.tasks <= nodes.max_tasks and ' +
        'nodes.allocated_cpu + r."cpu" <= nodes.cpu + 1e-9 and ' +
        'nodes.allocated_memory_mb + r."memoryMb" <= nodes.memory_mb and ' +
        'nodes.allocated_gpu + r."gpu" <= nodes.gpu',
    );
    expect(params).toEqual([]);
  });
});
