import { afterEach, describe, expect, it } from 'vitest';
import { SimOnvifCamera } from '../../firmware-sim/camera/onvif-camera.js';
import { inspectOnvifCamera } from '../../hub/src/cameras/onvif-client.js';

const cams: SimOnvifCamera[] = [];
afterEach(async () => {
  await Promise.all(cams.splice(0).map((c) => c.stop()));
});

async function camera(host = '127.0.0.2'): Promise<SimOnvifCamera> {
  const cam = new SimOnvifCamera({
    host,
    username: 'admin',
    password: 'cam-pw',
    name: 'Cổng chính',
    discovery: false,
    streamUris: { main: `rtsp://${host}:8554/main`, sub: `rtsp://${host}:8554/sub` },
  });
  cams.push(cam);
  await cam.start();
  return cam;
}

const addressOf = (cam: SimOnvifCamera) => new URL(cam.deviceServiceUrl).host;

describe('inspecting an ONVIF camera (the hub’s client against the simulated camera)', () => {
  it('reads who the camera is, its main and sub streams, and its snapshot address', async () => {
    const cam = await camera();
    const info = await inspectOnvifCamera({ address: addressOf(cam), username: 'admin', password: 'cam-pw' });
    expect(info).toMatchObject({
      manufacturer: 'Khu Sim',
      main: { width: 1920, height: 1080, uri: 'rtsp://127.0.0.2:8554/main' },
      sub: { width: 640, height: 360, uri: 'rtsp://127.0.0.2:8554/sub' },
    });
    expect(info.snapshotUri).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/snapshot\.jpg$/);
  });

  it('says the login was refused when the password is wrong', async () => {
    const cam = await camera();
    await expect(
      inspectOnvifCamera({ address: addressOf(cam), username: 'admin', password: 'wrong' }),
    ).rejects.toMatchObject({
      code: 'KHU_CAMERA_LOGIN_REFUSED',
      message: expect.stringContaining('refused'),
    });
  });

  it('says nothing answers at an address where no camera listens', async () => {
    const cam = await camera();
    const address = addressOf(cam);
    await cam.stop();
    await expect(
      inspectOnvifCamera({ address, username: 'admin', password: 'cam-pw', timeoutMs: 1500 }),
    ).rejects.toMatchObject({ code: 'KHU_CAMERA_UNREACHABLE' });
  });

  it.each(['file:///etc/passwd', 'concat:rtsp://127.0.0.2/a|file:///etc/shadow', 'http://127.0.0.2/stream'])(
    'refuses a camera that hands over %s as its stream',
    async (uri) => {
      const cam = await camera();
      cam.hostileStreamUri = uri;
      await expect(
        inspectOnvifCamera({ address: addressOf(cam), username: 'admin', password: 'cam-pw' }),
      ).rejects.toMatchObject({ code: 'KHU_CAMERA_UNUSABLE', message: expect.stringMatching(/rtsp/) });
    },
  );

  it('refuses an address that is not host[:port]', async () => {
    for (const address of ['http://127.0.0.2/', '127.0.0.2:99999', 'a b', '']) {
      await expect(inspectOnvifCamera({ address, username: 'a', password: 'b' })).rejects.toMatchObject({
        code: 'KHU_BAD_REQUEST',
      });
    }
  });
});
