/**
 * The ffmpeg module's pure parts: the progress parser (on output captured from Debian's ffmpeg
 * 5.1 with `-progress pipe:3 -nostats`), credential masking, and the check that lets only
 * `rtsp://` and `rtsps://` addresses reach ffmpeg.
 */
import { describe, expect, it } from 'vitest';
import { KhuError } from '../../hub/src/core/errors.js';
import { ffmpegArgs } from '../../hub/src/media/ffmpeg.js';
import {
  checkRtspUrl,
  maskArgs,
  maskSecrets,
  RTSP_PROTOCOL_WHITELIST,
  rtspInputArgs,
} from '../../hub/src/media/ffmpeg-args.js';
import { ProgressParser, parseProgress } from '../../hub/src/media/ffmpeg-progress.js';

/** `-re -f lavfi -i testsrc2=size=320x240:rate=10 -t 1.2 -f null -`: first and last blocks. */
const LAVFI_NULL = `frame=1
fps=0.00
stream_0_0_q=-0.0
bitrate=N/A
total_size=N/A
out_time_us=100000
out_time_ms=100000
out_time=00:00:00.100000
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
frame=6
fps=0.00
stream_0_0_q=-0.0
bitrate=N/A
total_size=N/A
out_time_us=600000
out_time_ms=600000
out_time=00:00:00.600000
dup_frames=0
drop_frames=0
speed= 1.2x
progress=continue
frame=12
fps=9.92
stream_0_0_q=-0.0
bitrate=N/A
total_size=N/A
out_time_us=1200000
out_time_ms=1200000
out_time=00:00:01.200000
dup_frames=0
drop_frames=0
speed=0.992x
progress=end
`;

/** Stream copy of an MPEG-TS file: out_time is negative before the first keyframe. */
const TS_COPY = `frame=1
fps=0.00
stream_0_0_q=-1.0
bitrate=N/A
total_size=N/A
out_time_us=-199989
out_time_ms=-199989
out_time=-00:00:00.199989
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
frame=20
fps=0.00
stream_0_0_q=-1.0
bitrate=N/A
total_size=N/A
out_time_us=1700011
out_time_ms=1700011
out_time=00:00:01.700011
dup_frames=0
drop_frames=0
speed=1.36e+03x
progress=end
`;

/** libx264 + AAC to fragmented MP4 on stdout: sizes and a padded bitrate. */
const X264_FMP4 = `frame=1
fps=0.00
stream_0_0_q=0.0
bitrate=N/A
total_size=1266
out_time_us=0
out_time_ms=0
out_time=00:00:00.000000
dup_frames=0
drop_frames=0
speed=   0x
progress=continue
frame=3
fps=0.00
stream_0_0_q=-1.0
bitrate= 363.6kbits/s
total_size=13718
out_time_us=301859
out_time_ms=301859
out_time=00:00:00.301859
dup_frames=0
drop_frames=0
speed=6.46x
progress=end
`;

describe('progress parser', () => {
  it('reads lavfi blocks, N/A as null and out_time in ms (out_time_ms is really µs)', () => {
    const blocks = parseProgress(LAVFI_NULL);
    expect(blocks).toHaveLength(3);
    expect(blocks[0]).toMatchObject({ frame: 1, fps: 0, outTimeMs: 100, speed: null, totalSize: null });
    expect(blocks[0]?.progress).toBe('continue');
    expect(blocks[1]).toMatchObject({ frame: 6, outTimeMs: 600, speed: 1.2 });
    expect(blocks[2]).toMatchObject({ frame: 12, fps: 9.92, outTimeMs: 1200, speed: 0.992, progress: 'end' });
    expect(blocks[2]?.raw.out_time).toBe('00:00:01.200000');
  });

  it('reads negative times, exponent speeds, sizes and padded values', () => {
    const ts = parseProgress(TS_COPY);
    expect(ts[0]?.outTimeMs).toBeCloseTo(-199.989);
    expect(ts[1]).toMatchObject({ frame: 20, speed: 1360, progress: 'end' });
    const fmp4 = parseProgress(X264_FMP4);
    expect(fmp4[0]).toMatchObject({ totalSize: 1266, speed: 0, outTimeMs: 0 });
    expect(fmp4[1]).toMatchObject({ frame: 3, totalSize: 13718, outTimeMs: 301.859, speed: 6.46 });
    expect(fmp4[1]?.raw.bitrate).toBe('363.6kbits/s');
  });

  it('gives the same blocks whatever the chunking, and nothing for an unfinished block', () => {
    const whole = parseProgress(LAVFI_NULL + TS_COPY);
    for (const size of [1, 7, 64]) {
      const parser = new ProgressParser();
      const got = [];
      const text = LAVFI_NULL + TS_COPY;
      for (let i = 0; i < text.length; i += size) got.push(...parser.push(text.slice(i, i + size)));
      expect(got).toEqual(whole);
    }
    const parser = new ProgressParser();
    expect(parser.push('frame=5\nfps=10\nout_time_us=5000')).toEqual([]);
    expect(parser.push('00\nprogress=continue\n')).toMatchObject([{ frame: 5, fps: 10, outTimeMs: 500 }]);
  });

  it('ignores junk lines and survives an endless line', () => {
    const parser = new ProgressParser();
    expect(parser.push(`garbage\n=x\n${'a'.repeat(10_000)}`)).toEqual([]);
    expect(parser.push('\nframe=2\nprogress=continue\n')).toMatchObject([{ frame: 2, progress: 'continue' }]);
  });
});

describe('masking', () => {
  it('masks logins in URLs, secret query values and secret options', () => {
    const args = [
      '-i',
      'rtsp://admin:s3cret@198.51.100.20:554/Streaming/Channels/101',
      '-headers',
      'Authorization: Basic YWRtaW46czNjcmV0',
      '-i',
      'rtsp://198.51.100.21/cam/realmonitor?channel=1&user=admin&password=s3cret&subtype=0',
      '-f',
      'null',
      '-',
    ];
    const masked = maskArgs(args);
    expect(masked).toEqual([
      '-i',
      'rtsp://***@198.51.100.20:554/Streaming/Channels/101',
      '-headers',
      '***',
      '-i',
      'rtsp://198.51.100.21/cam/realmonitor?channel=1&user=***&password=***&subtype=0',
      '-f',
      'null',
      '-',
    ]);
    expect(masked.join(' ')).not.toMatch(/s3cret|YWRtaW46/);
    expect(args[1]).toContain('s3cret'); // the input is not changed
  });

  it('masks a password with a raw @ up to the last @ (as ffmpeg splits it)', () => {
    expect(maskSecrets('rtsp://admin:p@ss@cam.local/live')).toBe('rtsp://***@cam.local/live');
    expect(maskSecrets('rtsps://u:p@[::1]:322/x')).toBe('rtsps://***@[::1]:322/x');
  });

  it('masks the URLs in ffmpeg error lines', () => {
    // As ffmpeg 5.1 prints them when an input fails.
    expect(maskSecrets('rtsp://u:p@127.0.0.1:8554/live: Invalid argument')).toBe(
      'rtsp://***@127.0.0.1:8554/live: Invalid argument',
    );
    expect(maskSecrets("Input #0, rtsp, from 'rtsp://u:p@127.0.0.1:8554/live':")).toBe(
      "Input #0, rtsp, from 'rtsp://***@127.0.0.1:8554/live':",
    );
  });

  it('leaves arguments without secrets alone', () => {
    const args = ['-f', 'segment', '-segment_time', '10', 'rtsp://cam/live', '/data/rec/%Y%m%dT%H%M%S.mp4'];
    expect(maskArgs(args)).toEqual(args);
  });
});

describe('stream address check', () => {
  const refused = (url: unknown) => {
    try {
      checkRtspUrl(url);
    } catch (err) {
      expect(err).toBeInstanceOf(KhuError);
      expect((err as KhuError).code).toBe('KHU_BAD_REQUEST');
      return (err as KhuError).message;
    }
    throw new Error(`accepted ${JSON.stringify(url)}`);
  };

  it('accepts rtsp:// and rtsps:// addresses unchanged', () => {
    for (const url of [
      'rtsp://198.51.100.20:554/Streaming/Channels/101',
      'rtsp://admin:s3cret@cam.local/live?profile=Profile_1',
      'rtsps://[fe80::1]:322/stream',
      'rtsp://127.0.0.1:8554/live',
    ]) {
      expect(checkRtspUrl(url)).toBe(url);
    }
  });

  it('accepts an upper-case scheme and lowers it (ffmpeg: "RTSP://…: Protocol not found")', () => {
    expect(checkRtspUrl('RTSP://cam.local/Live')).toBe('rtsp://cam.local/Live');
    expect(checkRtspUrl('Rtsps://cam.local/x')).toBe('rtsps://cam.local/x');
  });

  it('refuses other protocols, naming the scheme but never the address', () => {
    for (const url of [
      'file:/etc/passwd',
      'file:///etc/passwd',
      'concat:rtsp://a/|file:/etc/passwd',
      'http://cam.local/stream',
      'subfile,,start,0,end,0,,:rtsp://cam/x',
      'pipe:0',
      'tcp://127.0.0.1:554',
      'rtp://127.0.0.1:5004',
      'tls://cam:322',
      '/etc/passwd',
      'cam.local/live',
    ]) {
      expect(refused(url)).toMatch(/rtsp:\/\/ or rtsps:\/\//);
    }
    expect(refused('file:///etc/passwd')).toContain('"file:"');
    expect(refused('http://admin:s3cret@cam/')).not.toContain('s3cret');
  });

  it('refuses spaces, newlines and control characters anywhere', () => {
    for (const url of [
      ' rtsp://cam/live',
      'rtsp://cam/live ',
      'rtsp://cam/live\n',
      'rtsp://cam/live\r\nfile:/etc/passwd',
      'rtsp://cam/li\tve',
      'rtsp://cam/\u0000x',
      'rtsp://cam/\u007f',
    ]) {
      expect(refused(url)).toMatch(/spaces or control characters/);
    }
  });

  it('refuses addresses without a host, too long, or not strings', () => {
    expect(refused('rtsp:/cam/live')).toMatch(/host/);
    expect(refused('rtsp:///live')).toMatch(/host|valid/);
    expect(refused('rtsp:cam')).toMatch(/host/);
    expect(refused(`rtsp://cam/${'a'.repeat(3000)}`)).toMatch(/longer/);
    expect(refused(42)).toMatch(/string/);
    expect(refused('')).toMatch(/string/);
  });

  it('builds camera input arguments with the whitelist ffmpeg 5.1 needs for RTSP', () => {
    expect(RTSP_PROTOCOL_WHITELIST).toBe('tcp,udp,rtp,tls');
    expect(rtspInputArgs('RTSP://cam/live', { timeoutMs: 5000 })).toEqual([
      '-protocol_whitelist',
      'tcp,udp,rtp,tls',
      '-rtsp_transport',
      'tcp',
      '-timeout',
      '5000000',
      '-i',
      'rtsp://cam/live',
    ]);
    expect(() => rtspInputArgs('file:/etc/passwd')).toThrow(KhuError);
  });

  it('puts progress on fd 3, keeps stdout free and never asks before overwriting', () => {
    const args = ffmpegArgs({ args: ['-i', 'x', '-f', 'null', '-'], progressPeriodMs: 250 });
    expect(args).toEqual([
      '-hide_banner',
      '-y',
      '-loglevel',
      'error',
      '-nostats',
      '-progress',
      'pipe:3',
      '-stats_period',
      '0.25',
      '-i',
      'x',
      '-f',
      'null',
      '-',
    ]);
    expect(args).not.toContain('-nostdin');
  });
});
