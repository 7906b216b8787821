import { describe, expect, it } from 'vitest';
import { checkStreamUri, withCredentials, withoutCredentials } from '../../hub/src/cameras/stream-uri.js';

describe('checkStreamUri', () => {
  it.each([
    'rtsp://127.0.0.1:8554/main',
    'rtsps://cam.local/live',
    'RTSP://127.0.0.1/Streaming/Channels/101',
  ])('accepts %s', (uri) => {
    expect(checkStreamUri(uri).protocol).toMatch(/^rtsps?:$/);
  });

  it.each([
    'file:///etc/passwd',
    'concat:rtsp://a/b|file:///etc/shadow',
    'http://127.0.0.1/stream',
    'subfile,,start,0,end,100,,:/etc/passwd',
    'pipe:0',
    'rtsp://127.0.0.1/main\nfile:///etc/passwd',
    ' rtsp://127.0.0.1/main',
    'rtsp:///nohost',
    '',
    'x'.repeat(3000),
  ])('refuses %j with KHU_CAMERA_UNUSABLE', (uri) => {
    expect(() => checkStreamUri(uri)).toThrow(expect.objectContaining({ code: 'KHU_CAMERA_UNUSABLE' }));
  });

  it('refuses what is not a string', () => {
    for (const v of [null, 42, { href: 'rtsp://a' }])
      expect(() => checkStreamUri(v)).toThrow(/must be a string/);
  });
});

describe('credentials in stream URIs', () => {
  it('stores the URI without a login, and adds one (encoded) only for ffmpeg', () => {
    const stored = withoutCredentials(checkStreamUri('rtsp://admin:secret@127.0.0.2:554/main'));
    expect(stored).toBe('rtsp://127.0.0.2:554/main');
    expect(withCredentials(stored, 'admin', 'p@ss:w/rd')).toBe(
      'rtsp://admin:p%40ss%3Aw%2Frd@127.0.0.2:554/main',
    );
    expect(withCredentials(stored, null, null)).toBe(stored);
  });
});
