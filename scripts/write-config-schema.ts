/** Writes config/schema.json from the TypeBox schema in hub/src/config/schema.ts (`npm run schema`). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../hub/src/config/load.js';
import { ConfigSchema } from '../hub/src/config/schema.js';

export function configSchemaJson(): string {
  return `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', title: 'Khu hub configuration', ...ConfigSchema }, null, 2)}\n`;
}

if (process.argv[1]?.endsWith('write-config-schema.js')) {
  writeFileSync(join(projectRoot(), 'config', 'schema.json'), configSchemaJson());
}
