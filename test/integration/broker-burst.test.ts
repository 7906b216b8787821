/**
 * A burst of messages through the embedded broker, as when the hub pushes a program to 1000
 * relays and they all answer at once: aedes' emitter drains its queue recursively, and a queue
 * of a few thousand overflowed the stack and took the hub down. The hub must take any burst.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TestHub } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';

let t: TestHub | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('a burst through the broker', () => {
  it('takes thousands of messages published at once without losing the hub', async () => {
    t = await TestHub.start();
    const relay = await t.onlineRelay({ id: 'burst1', zone: 'xom-1' });
    let received = 0;
    relay.on('command', () => {
      received++;
    });
    // Deliveries to a connected relay stay in flight (socket writes) while the rest pile up
    // behind them: 300 to the relay, then 20 000 that nobody subscribes to, in one tick.
    for (let i = 0; i < 300; i++) t.hub.broker.publish('cmnd/burst1/Status', '0', 0);
    for (let i = 0; i < 20_000; i++) t.hub.broker.publish(`cmnd/nobody${i % 50}/Status`, '0', 0);
    await waitFor(() => received >= 300, {
      timeoutMs: 15_000,
      message: 'the relay getting its 300 messages',
    });
    const health = await t.api<{ status: string }>('GET', '/api/health', { token: null });
    expect(health.body.status).toBe('ok');
  });
});
