/**
 * Runs inside a fresh network namespace (test/integration/camera-discovery.test.ts): two
 * simulated cameras on loopback addresses, then the hub's own discovery, by multicast on the
 * loopback interface and by unicast.
 */
import { SimOnvifCamera } from '../../firmware-sim/camera/onvif-camera.js';
import { discoverCameras } from '../../hub/src/cameras/discovery.js';

export async function hubDiscoveryScenario(): Promise<unknown> {
  const cams = ['127.0.0.2', '127.0.0.3'].map(
    (host, i) =>
      new SimOnvifCamera({
        host,
        username: 'admin',
        password: 'cam-pw',
        name: i === 0 ? 'Cổng chính' : 'Cổng sau',
        location: 'LamThao',
        streamUris: { main: `rtsp://${host}:8554/main`, sub: `rtsp://${host}:8554/sub` },
      }),
  );
  for (const c of cams) await c.start();
  try {
    const multicast = await discoverCameras({ interfaceAddress: '127.0.0.1', timeoutMs: 800 });
    const unicast = await discoverCameras({ multicast: false, unicast: ['127.0.0.3/32'], timeoutMs: 800 });
    const both = await discoverCameras({
      interfaceAddress: '127.0.0.1',
      unicast: ['127.0.0.2'],
      timeoutMs: 800,
    });
    return {
      multicast,
      unicast,
      both,
      deviceUrls: cams.map((c) => c.deviceServiceUrl),
    };
  } finally {
    for (const c of cams) await c.stop();
  }
}
