import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, merge } from '../../hub/src/config/load.js';
import { KhuError } from '../../hub/src/core/errors.js';

const dirs: string[] = [];
afterEach(() => {
  for (let d = dirs.pop(); d; d = dirs.pop()) rmSync(d, { recursive: true, force: true });
});

/** A site file named by KHU_CONFIG, in a temp dir removed after the test. */
function siteFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'khu-config-'));
  dirs.push(dir);
  const file = join(dir, 'site.yaml');
  writeFileSync(file, text);
  return file;
}

/** The error loadConfig throws, checked to be the config error every caller prints. */
function configError(load: () => unknown): KhuError {
  try {
    load();
  } catch (err) {
    expect(err).toBeInstanceOf(KhuError);
    expect((err as KhuError).code).toBe('KHU_CONFIG_INVALID');
    return err as KhuError;
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('loads the defaults of config/default.yaml with an empty environment', () => {
    const c = loadConfig({ env: {} });
    expect(c.http.port).toBe(8080);
    expect(c.mqtt.port).toBe(1883);
    expect(c.dataDir).toBe('./data');
    expect(c.site.timezone).toBe('Asia/Ho_Chi_Minh');
    expect(c.auth.loginMaxAttempts).toBeGreaterThan(0);
    expect(c.lights.retryMaxMs).toBeGreaterThanOrEqual(c.lights.retryInitialMs);
  });

  it('takes KHU_HTTP_PORT, KHU_MQTT_PORT and KHU_DATA_DIR over the defaults', () => {
    const c = loadConfig({
      env: { KHU_HTTP_PORT: '9090', KHU_MQTT_PORT: '18830', KHU_DATA_DIR: '/srv/khu' },
    });
    expect(c.http.port).toBe(9090);
    expect(c.mqtt.port).toBe(18830);
    expect(c.dataDir).toBe('/srv/khu');
    // The rest of each section stays as the defaults have it.
    expect(c.http.bodyLimitBytes).toBe(65536);
    expect(c.mqtt.maxPacketBytes).toBe(65536);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ env: { KHU_HTTP_PORT: '', KHU_DATA_DIR: '' } })).toMatchObject({
      http: { port: 8080 },
      dataDir: './data',
    });
  });

  it('merges the KHU_CONFIG file key by key over the defaults, and the environment over both', () => {
    const file = siteFile(
      [
        'site:',
        '  name: Khu Lâm Thao',
        'http:',
        '  port: 8081',
        '  publicUrl: http://198.51.100.10:8081',
        '',
      ].join('\n'),
    );
    const c = loadConfig({ env: { KHU_CONFIG: file, KHU_MQTT_PORT: '2883' } });
    expect(c.site.name).toBe('Khu Lâm Thao');
    expect(c.site.timezone).toBe('Asia/Ho_Chi_Minh');
    expect(c.http).toMatchObject({
      port: 8081,
      publicUrl: 'http://198.51.100.10:8081',
      bodyLimitBytes: 65536,
    });
    expect(c.mqtt.port).toBe(2883);

    const withEnv = loadConfig({ env: { KHU_CONFIG: file, KHU_HTTP_PORT: '8082' } });
    expect(withEnv.http.port).toBe(8082);
  });

  it('accepts an empty KHU_CONFIG file as "nothing to change"', () => {
    expect(loadConfig({ env: { KHU_CONFIG: siteFile('') } }).http.port).toBe(8080);
  });

  it('refuses a port that is not a number, naming the variable', () => {
    const err = configError(() => loadConfig({ env: { KHU_HTTP_PORT: 'abc' } }));
    expect(err.message).toMatch(/KHU_HTTP_PORT/);
    expect(err.message).toMatch(/abc/);
    expect(configError(() => loadConfig({ env: { KHU_MQTT_PORT: '18 83' } })).message).toMatch(
      /KHU_MQTT_PORT/,
    );
    expect(configError(() => loadConfig({ env: { KHU_HTTP_PORT: '-1' } })).message).toMatch(/KHU_HTTP_PORT/);
  });

  it('refuses a port out of range, from the environment or a file, naming http.port', () => {
    expect(configError(() => loadConfig({ env: { KHU_HTTP_PORT: '70000' } })).message).toMatch(/http\.port/);
    const file = siteFile('http:\n  port: 70000\n');
    const err = configError(() => loadConfig({ env: { KHU_CONFIG: file } }));
    expect(err.message).toMatch(/http\.port/);
    expect(err.message).toMatch(/65535/);
  });

  it('refuses an unknown key, naming it (a typo must not be silently ignored)', () => {
    const err = configError(() => loadConfig({ env: { KHU_CONFIG: siteFile('http:\n  colour: blue\n') } }));
    expect(err.message).toMatch(/http\.colour/);
    expect(err.message).toMatch(/unknown key/);
    expect(configError(() => loadConfig({ env: { KHU_CONFIG: siteFile('lightz: {}\n') } })).message).toMatch(
      /lightz: unknown key/,
    );
  });

  it('refuses a value of the wrong type, naming the key', () => {
    expect(
      configError(() => loadConfig({ env: { KHU_CONFIG: siteFile('http:\n  port: eighty\n') } })).message,
    ).toMatch(/http\.port/);
    expect(
      configError(() => loadConfig({ env: { KHU_CONFIG: siteFile('auth:\n  loginMaxAttempts: 2.5\n') } }))
        .message,
    ).toMatch(/auth\.loginMaxAttempts/);
    expect(
      configError(() => loadConfig({ env: { KHU_CONFIG: siteFile('site: Lâm Thao\n') } })).message,
    ).toMatch(/site/);
    expect(configError(() => loadConfig({ env: {}, overrides: { log: { level: 'loud' } } })).message).toMatch(
      /log\.level/,
    );
  });

  it('names every bad key at once, not only the first', () => {
    const file = siteFile('http:\n  port: 70000\nmqtt:\n  port: -5\n');
    const err = configError(() => loadConfig({ env: { KHU_CONFIG: file } }));
    expect(err.message).toMatch(/http\.port/);
    expect(err.message).toMatch(/mqtt\.port/);
  });

  it('refuses a retry ceiling below the first retry delay', () => {
    const err = configError(() =>
      loadConfig({ env: {}, overrides: { lights: { retryInitialMs: 5000, retryMaxMs: 1000 } } }),
    );
    expect(err.message).toMatch(/lights\.retryMaxMs/);
  });

  it('says clearly when the KHU_CONFIG file is not YAML, missing, or not a mapping', () => {
    const bad = siteFile('http:\n  port: [8080\n');
    const err = configError(() => loadConfig({ env: { KHU_CONFIG: bad } }));
    expect(err.message).toMatch(/not valid YAML/);
    expect(err.message).toContain(bad);

    const missing = join(tmpdir(), 'khu-no-such-dir', 'site.yaml');
    expect(configError(() => loadConfig({ env: { KHU_CONFIG: missing } })).message).toMatch(
      /cannot read KHU_CONFIG/,
    );

    expect(configError(() => loadConfig({ env: { KHU_CONFIG: siteFile('- a\n- b\n') } })).message).toMatch(
      /must hold a YAML mapping/,
    );
  });
});

describe('merge', () => {
  it('merges objects key by key and lets anything else replace', () => {
    expect(merge({ a: { b: 1, c: 2 }, d: [1, 2] }, { a: { c: 3 }, d: [9] })).toEqual({
      a: { b: 1, c: 3 },
      d: [9],
    });
    expect(merge({ a: 1 }, undefined)).toEqual({ a: 1 });
    expect(merge({ a: { b: 1 } }, { a: null })).toEqual({ a: null });
  });
});
