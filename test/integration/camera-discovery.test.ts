import { describe, expect, it } from 'vitest';
import { currentNetns, runInLoopbackNetns } from '../../firmware-sim/camera/ws-discovery-netns.js';
import type { DiscoveredCamera } from '../../hub/src/cameras/discovery.js';

interface Scenario {
  multicast: DiscoveredCamera[];
  unicast: DiscoveredCamera[];
  both: DiscoveredCamera[];
  deviceUrls: string[];
}

describe('camera discovery (the hub’s, against simulated cameras)', () => {
  it('finds cameras by multicast on the chosen interface and by unicast, once each, inside a namespace of its own', async () => {
    const run = await runInLoopbackNetns<Scenario>(
      new URL('../support/hub-discovery-scenario.ts', import.meta.url).pathname,
      'hubDiscoveryScenario',
      null,
    );
    // The probes went nowhere but this namespace's loopback.
    expect(run.links).toEqual(['lo']);
    expect(run.netns).not.toBe(currentNetns());

    const { multicast, unicast, both, deviceUrls } = run.value;
    expect(multicast.map((c) => [c.address, c.name, c.location])).toEqual([
      [new URL(deviceUrls[0]!).host, 'Cổng chính', 'LamThao'],
      [new URL(deviceUrls[1]!).host, 'Cổng sau', 'LamThao'],
    ]);
    expect(multicast.map((c) => c.xaddrs[0])).toEqual(deviceUrls);
    expect(unicast.map((c) => c.address)).toEqual([new URL(deviceUrls[1]!).host]);
    // A camera answering both the multicast and the unicast probe is listed once.
    expect(both).toHaveLength(2);
    expect(new Set(both.map((c) => c.endpoint)).size).toBe(2);
  });
});
