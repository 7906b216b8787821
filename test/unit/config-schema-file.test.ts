import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configSchemaJson } from '../../scripts/write-config-schema.js';

describe('config/schema.json', () => {
  it('is the schema the hub validates against (run `npm run schema` after changing it)', () => {
    expect(readFileSync(new URL('../../config/schema.json', import.meta.url), 'utf8')).toBe(
      configSchemaJson(),
    );
  });
});
