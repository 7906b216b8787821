/**
 * The message catalogues: Vietnamese and English hold the same keys, and every key the app's
 * code names literally is in both (a missing one would show its key to a resident).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const web = fileURLToPath(new URL('../../hub/web/', import.meta.url));
const catalogue = (lang: string) =>
  JSON.parse(readFileSync(join(web, 'i18n', `${lang}.json`), 'utf8')) as Record<string, string>;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('i18n catalogues', () => {
  const vi = catalogue('vi');
  const en = catalogue('en');

  it('have the same keys in Vietnamese and English, none empty', () => {
    expect(Object.keys(en).sort()).toEqual(Object.keys(vi).sort());
    for (const [k, v] of [...Object.entries(vi), ...Object.entries(en)]) expect(v.trim(), k).not.toBe('');
  });

  it('hold every key the code names, and the keys it builds', () => {
    const used = new Set<string>();
    for (const file of sources(join(web, 'src'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\bt\(\s*'([a-zA-Z0-9_.]+)'/g)) used.add(m[1]!);
    }
    const built = [
      ...['connecting', 'playing', 'offline', 'reconnecting', 'unsupported'].map((s) => `live.${s}`),
      ...['home', 'lights', 'head'].map((s) => `nav.${s}`),
      ...['on', 'off'].map((s) => `lights.${s}`),
      ...['events', 'invites', 'residents'].flatMap((s) => [`head.tab.${s}`, `head.title.${s}`]),
      ...['day', 'hour', 'tenmin'].map((s) => `replay.zoom.${s}`),
      ...['pending', 'used', 'expired', 'revoked'].map((s) => `invite.status.${s}`),
      ...['EXPIRED', 'USED', 'REVOKED', 'NOT_FOUND'].map((s) => `error.KHU_INVITE_${s}`),
      'head.filter.all',
      'head.filter.lights',
      'head.filter.alarms',
      'head.filter.cameras',
    ];
    for (const key of [...used, ...built]) expect(vi, key).toHaveProperty([key]);
    expect(vi['app.name']).toContain('Khu dân cư thông minh');
  });
});
