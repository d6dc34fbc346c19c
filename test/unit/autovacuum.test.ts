import { describe, expect, it } from 'vitest';
import { yieldingSessionSql, yieldingToolOptions } from '../../src/stores/postgres/autovacuum.js';

describe('making autovacuum yield to the restore', () => {
  it('a superuser\'s tools connect with a short deadlock_timeout after the caller\'s own options', () => {
    expect(yieldingToolOptions(true, undefined)).toEqual({ PGOPTIONS: '-c deadlock_timeout=50ms' });
    expect(yieldingToolOptions(true, '  -c work_mem=64MB ')).toEqual({ PGOPTIONS: '-c work_mem=64MB -c deadlock_timeout=50ms' });
    expect(yieldingSessionSql(true)).toBe("SET deadlock_timeout = '50ms'");
  });

  it('another role gets nothing added: the server refuses the setting to it when connecting', () => {
    expect(yieldingToolOptions(false, '-c work_mem=64MB')).toEqual({});
    expect(yieldingSessionSql(false)).toBe('');
  });
});
