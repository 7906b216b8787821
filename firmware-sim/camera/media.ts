/**
 * The simulated camera's picture and sound: ffmpeg encodes a short clip ONCE (a moving test
 * pattern with burnt-in text, a main and a sub stream, AAC beeps), the elementary streams are
 * cached on disk, and every camera replays them from memory: live encoding costs ~20 % of a
 * core per 1080p camera, a replay almost nothing.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AacStream, parseAdts } from './adts.js';
import { type H264Stream, parseH264 } from './h264.js';

export type StreamName = 'main' | 'sub';

export interface VideoStreamOptions {
  width: number;
  height: number;
  bitrateKbps: number;
  profile: 'baseline' | 'main';
}

export interface MediaOptions {
  /** Length of the looped clip; default 10 s. */
  clipSeconds?: number;
  /** Default 25 (a PAL-region camera). */
  fps?: number;
  /** Key frame interval; default 1 s. `clipSeconds` must be a multiple of it. */
  keyframeSeconds?: number;
  /** Default 1920×1080, 2000 kbit/s, main profile. */
  main?: Partial<VideoStreamOptions>;
  /** Default 640×360, 500 kbit/s, baseline profile. */
  sub?: Partial<VideoStreamOptions>;
  /** Default AAC-LC mono 16 kHz 32 kbit/s, a beep each second; `false` for no audio track. */
  audio?: { sampleRate?: number; bitrateKbps?: number } | false;
  /** Burnt into the picture with the clip time and frame number; letters, digits, ` _.-`. */
  label?: string;
  /**
   * `testsrc` (default): a moving test picture with the clock burnt in. `flash`: the whole
   * picture red for one key-frame interval, then blue for the next, and so on (a change a
   * screen reader of pixels can time: the glass-to-glass benchmark).
   */
  pattern?: 'testsrc' | 'flash';
  /** Default `<os.tmpdir()>/khu-sim-media-<hash of the options>`. */
  cacheDir?: string;
  ffmpegPath?: string;
  fontFile?: string;
}

export interface ResolvedMediaOptions {
  clipSeconds: number;
  fps: number;
  keyframeSeconds: number;
  main: VideoStreamOptions;
  sub: VideoStreamOptions;
  audio: { sampleRate: number; bitrateKbps: number } | false;
  label: string;
  pattern: 'testsrc' | 'flash';
}

export interface VideoTrack extends H264Stream {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly bitrateKbps: number;
}

export interface PreparedMedia {
  readonly dir: string;
  readonly options: ResolvedMediaOptions;
  readonly video: Readonly<Record<StreamName, VideoTrack>>;
  readonly audio: AacStream | undefined;
  /** A JPEG of the main stream's first frame, for snapshot URIs. */
  readonly snapshot: Buffer;
  /** False when drawtext or the font was missing: the picture then has no text. */
  readonly textBurnedIn: boolean;
  readonly warnings: readonly string[];
  /** True when this call encoded the clip, false when it came from the cache. */
  readonly encoded: boolean;
}

/** Bump when the encoding changes, so that old caches are not reused. */
const CACHE_FORMAT = 1;
const DEFAULT_FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf';
const FILES = { main: 'main.h264', sub: 'sub.h264', audio: 'audio.aac', snapshot: 'snapshot.jpg' };

export function resolveMediaOptions(options: MediaOptions = {}): ResolvedMediaOptions {
  const stream = (given: Partial<VideoStreamOptions> | undefined, fallback: VideoStreamOptions) => ({
    ...fallback,
    ...given,
  });
  const resolved: ResolvedMediaOptions = {
    clipSeconds: options.clipSeconds ?? 10,
    fps: options.fps ?? 25,
    keyframeSeconds: options.keyframeSeconds ?? 1,
    main: stream(options.main, { width: 1920, height: 1080, bitrateKbps: 2000, profile: 'main' }),
    sub: stream(options.sub, { width: 640, height: 360, bitrateKbps: 500, profile: 'baseline' }),
    audio: options.audio === false ? false : { sampleRate: 16000, bitrateKbps: 32, ...options.audio },
    label: options.label ?? 'KHU SIM',
    pattern: options.pattern ?? 'testsrc',
  };
  const { clipSeconds, fps, keyframeSeconds } = resolved;
  const gop = fps * keyframeSeconds;
  if (!Number.isInteger(fps) || fps < 1 || fps > 60) throw new RangeError('media: fps must be 1..60');
  if (!Number.isInteger(gop) || gop < 1) throw new RangeError('media: fps × keyframeSeconds must be whole');
  if (!(clipSeconds >= keyframeSeconds && Number.isInteger(clipSeconds / keyframeSeconds))) {
    throw new RangeError('media: clipSeconds must be a multiple of keyframeSeconds');
  }
  for (const s of [resolved.main, resolved.sub]) {
    if (s.width % 2 || s.height % 2 || s.width < 16 || s.height < 16) {
      throw new RangeError(`media: bad size ${s.width}x${s.height}`);
    }
  }
  if (!/^[\w .-]{0,40}$/.test(resolved.label))
    throw new RangeError('media: label has unsupported characters');
  return resolved;
}

const inFlight = new Map<string, Promise<PreparedMedia>>();

/**
 * Encodes the clip unless the cache already holds it, then loads it into memory. Calls with the
 * same options share one encode and one copy in memory, in this process and across processes
 * (the cache directory appears atomically by rename).
 */
export function prepareMedia(options: MediaOptions = {}): Promise<PreparedMedia> {
  const resolved = resolveMediaOptions(options);
  const fontFile = options.fontFile ?? DEFAULT_FONT;
  const hash = createHash('sha256')
    .update(JSON.stringify({ CACHE_FORMAT, ...resolved, fontFile }))
    .digest('hex')
    .slice(0, 16);
  const dir = options.cacheDir ?? join(tmpdir(), `khu-sim-media-${hash}`);
  let pending = inFlight.get(dir);
  if (!pending) {
    pending = load(dir, hash, resolved, options);
    inFlight.set(dir, pending);
    pending.catch(() => inFlight.delete(dir));
  }
  return pending;
}

interface Meta {
  hash: string;
  textBurnedIn: boolean;
  warnings: string[];
}

async function readMeta(dir: string): Promise<Meta | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Meta;
  } catch {
    return undefined;
  }
}

async function load(
  dir: string,
  hash: string,
  resolved: ResolvedMediaOptions,
  options: MediaOptions,
): Promise<PreparedMedia> {
  let meta = await readMeta(dir);
  let encoded = false;
  if (meta?.hash !== hash) {
    const staging = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await mkdir(staging, { recursive: true });
    try {
      const fresh = await encode(staging, hash, resolved, options);
      if (meta) await rm(dir, { recursive: true, force: true }); // stale: other options, same dir
      try {
        await rename(staging, dir);
        meta = fresh;
        encoded = true;
      } catch (err) {
        // Another process finished first: use its copy.
        meta = await readMeta(dir);
        if (meta?.hash !== hash) throw err;
      }
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }
  const [main, sub, audio, snapshot] = await Promise.all([
    readFile(join(dir, FILES.main)),
    readFile(join(dir, FILES.sub)),
    resolved.audio ? readFile(join(dir, FILES.audio)) : undefined,
    readFile(join(dir, FILES.snapshot)),
  ]);
  const expectedFrames = resolved.clipSeconds * resolved.fps;
  const track = (name: StreamName, data: Buffer): VideoTrack => {
    const parsed = parseH264(data);
    if (parsed.frames.length !== expectedFrames) {
      throw new Error(
        `media: ${dir}/${FILES[name]} has ${parsed.frames.length} frames, not ${expectedFrames}`,
      );
    }
    const { width, height, bitrateKbps } = resolved[name];
    return { ...parsed, width, height, bitrateKbps, fps: resolved.fps };
  };
  return {
    dir,
    options: resolved,
    video: { main: track('main', main), sub: track('sub', sub) },
    audio: audio ? parseAdts(audio) : undefined,
    snapshot,
    textBurnedIn: meta.textBurnedIn,
    warnings: meta.warnings,
    encoded,
  };
}

async function encode(
  dir: string,
  hash: string,
  o: ResolvedMediaOptions,
  options: MediaOptions,
): Promise<Meta> {
  const ffmpeg = options.ffmpegPath ?? 'ffmpeg';
  const fontFile = options.fontFile ?? DEFAULT_FONT;
  const warnings: string[] = [];
  const filters = await run(ffmpeg, ['-hide_banner', '-filters']);
  const hasDrawtext = /\sdrawtext\s/.test(filters);
  const hasFont = await access(fontFile).then(
    () => true,
    () => false,
  );
  if (!hasDrawtext) warnings.push('ffmpeg has no drawtext filter: the picture carries no text');
  else if (!hasFont) warnings.push(`font ${fontFile} not found: the picture carries no text`);
  const textBurnedIn = hasDrawtext && hasFont;
  const fontSize = Math.round(o.main.height / 18);
  const text = textBurnedIn
    ? `,drawtext=fontfile=${fontFile}:text='${o.label}  %{pts\\:hms}  #%{n}':fontsize=${fontSize}` +
      `:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=${Math.round(fontSize / 4)}:x=${fontSize}:y=${fontSize}`
    : '';
  const d = o.clipSeconds;
  const k = o.keyframeSeconds;
  const source =
    o.pattern === 'flash'
      ? `color=c=blue:size=${o.main.width}x${o.main.height}:rate=${o.fps}:duration=${d},` +
        `drawbox=x=0:y=0:w=iw:h=ih:color=red:t=fill:enable='lt(mod(t\\,${2 * k})\\,${k})'`
      : `testsrc2=size=${o.main.width}x${o.main.height}:rate=${o.fps}:duration=${d}${text}`;
  const graph = [
    `${source},format=yuv420p,split=3[main][s][j]`,
    `[s]scale=${o.sub.width}:${o.sub.height}[sub]`,
  ];
  if (o.audio)
    graph.push(`sine=frequency=880:beep_factor=4:sample_rate=${o.audio.sampleRate}:duration=${d}[a]`);
  const gop = String(o.fps * o.keyframeSeconds);
  const video = (name: StreamName) => {
    const s = o[name];
    const rate = `${s.bitrateKbps}k`;
    // No B-frames (cheap cameras send none): decoding order is presentation order.
    return [
      ...['-map', `[${name}]`, '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', s.profile, '-bf', '0'],
      ...['-g', gop, '-keyint_min', gop, '-sc_threshold', '0'],
      ...['-b:v', rate, '-maxrate', rate, '-bufsize', rate, '-f', 'h264', join(dir, FILES[name])],
    ];
  };
  const args = ['-hide_banner', '-nostdin', '-v', 'error', '-y', '-filter_complex', graph.join(';')]
    .concat(video('main'), video('sub'))
    .concat(['-map', '[j]', '-frames:v', '1', '-q:v', '3', '-f', 'image2', join(dir, FILES.snapshot)]);
  if (o.audio) {
    args.push('-map', '[a]', '-c:a', 'aac', '-b:a', `${o.audio.bitrateKbps}k`, '-ac', '1');
    args.push('-f', 'adts', join(dir, FILES.audio));
  }
  await run(ffmpeg, args);
  const meta: Meta = { hash, textBurnedIn, warnings };
  await writeFile(join(dir, 'meta.json'), `${JSON.stringify({ ...meta, options: o }, null, 2)}\n`);
  return meta;
}

/** Runs a tool to completion; resolves with its stdout, rejects with the end of its stderr. */
function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      const missing = err.code === 'ENOENT';
      const error = new Error(
        missing ? `${command} not found: install ffmpeg (Debian: apt-get install ffmpeg)` : err.message,
        { cause: err },
      );
      reject(Object.assign(error, { code: missing ? 'KHU_SIM_FFMPEG_MISSING' : 'KHU_SIM_FFMPEG_FAILED' }));
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else {
        const error = new Error(`${command} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`);
        reject(Object.assign(error, { code: 'KHU_SIM_FFMPEG_FAILED' }));
      }
    });
  });
}
