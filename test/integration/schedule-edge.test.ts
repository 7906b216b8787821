/**
 * A light cabinet run by the edge agent, end to end with a real hub: the hub recognises the
 * agent, sends it the zone's program as PROGRAM, and when the hub dies the agent switches the
 * cabinet's relays (file driver) at the programmed instant on its own.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../../edge/agent.js';
import { parseEdgeConfig } from '../../edge/config.js';
import { edgeConfigDoc } from '../helpers/edge.js';
import { TestHub } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';

let t: TestHub | undefined;
let agent: EdgeAgent | undefined;
let dir: string | undefined;

afterEach(async () => {
  await agent?.stop();
  await t?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  agent = undefined;
  t = undefined;
  dir = undefined;
});

const TZ_MS = 7 * 3_600_000; // Asia/Ho_Chi_Minh, the default site
const cronAt = (ms: number) => {
  const d = new Date(ms + TZ_MS);
  return `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} * * *`;
};

describe('lighting programs on an edge agent', () => {
  it('gets its program from the hub as PROGRAM and keeps switching after the hub dies', async () => {
    t = await TestHub.start();
    const login = await t.provision({ id: 'cab1', zone: 'xom-2', channels: 2 });
    dir = await mkdtemp(join(tmpdir(), 'khu-edge-hub-'));
    // The agent's clock runs `offset` ahead of the real one: the test moves it to just before
    // the programmed instant instead of waiting ten minutes.
    let offset = 0;
    const config = parseEdgeConfig(edgeConfigDoc(dir, login));
    agent = new EdgeAgent({ config, log: pino({ level: 'silent' }), clock: () => Date.now() + offset });
    await agent.start();

    const onAt = Math.floor(Date.now() / 1000) * 1000 + 10 * 60_000;
    const create = await t.api('POST', '/api/schedule/programs', {
      body: {
        id: 'tet',
        name: 'Tết',
        rules: [
          { state: 'on', cron: cronAt(onAt) },
          { state: 'off', cron: cronAt(onAt + 6 * 3_600_000) },
        ],
      },
    });
    expect(create.status, JSON.stringify(create.body)).toBe(201);
    const defaults = await t.api('PUT', '/api/schedule/defaults', {
      body: { program: 'tet', zones: {}, lights: {} },
    });
    expect(defaults.status, JSON.stringify(defaults.body)).toBe(200);

    await waitFor(() => agent!.program !== undefined, { timeoutMs: 10_000, message: 'PROGRAM from the hub' });
    expect(agent.states()).toEqual(['off', 'off']);

    // Three seconds before the instant by the agent's clock, the hub dies.
    offset = onAt - 3000 - Date.now();
    await t.hub.stop();
    await waitFor(() => !agent!.connected, {
      timeoutMs: 5000,
      message: 'the agent noticing the hub is gone',
    });
    await waitFor(() => agent!.states().every((s) => s === 'on'), {
      timeoutMs: 8000,
      message: 'the cabinet switched on at the programmed instant',
    });
    const out = JSON.parse(await readFile(join(dir, 'relays-out.json'), 'utf8')) as unknown;
    expect(JSON.stringify(out)).toMatch(/on/i);
  });
});
