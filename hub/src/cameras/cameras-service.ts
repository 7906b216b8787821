import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { KhuError, notFound } from '../core/errors.js';
import type { Actor, EventBus } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { HubModule } from '../core/module.js';
import type { LiveService, SubSource } from '../live/live-service.js';
import { reapByCommandLine } from '../media/pidfiles.js';
import { FfmpegSupervisor } from '../media/supervisor.js';
import type { PlayableSegment } from '../recording/playback.js';
import { reconcileCamera } from '../recording/reconcile.js';
import { CameraRecorder, type RecorderState } from '../recording/recorder.js';
import { RetentionSweeper } from '../recording/retention.js';
import { gapsIn } from '../recording/timeline.js';
import type { CameraRecord, CamerasRepo } from '../store/cameras-repo.js';
import { type DiscoveredCamera, discoverCameras } from './discovery.js';
import { inspectOnvifCamera, syncOnvifClock } from './onvif-client.js';
import { probeRtspStream, tcpProbe } from './rtsp-probe.js';
import { type Snapshot, takeSnapshot } from './snapshot.js';
import { checkStreamUri, withCredentials, withoutCredentials } from './stream-uri.js';

export interface NewCamera {
  name: string;
  onvif?: { address: string; username: string; password: string };
  rtsp?: { url: string; username?: string; password?: string };
}

/** What people and the API see of a camera: never its login. */
export interface CameraView {
  id: string;
  name: string;
  kind: 'onvif' | 'rtsp';
  onvifAddress: string | null;
  mainUri: string;
  subUri: string | null;
  hasSnapshot: boolean;
  status: RecorderState | 'offline';
  lastSegmentAt: string | null;
  manufacturer: string | null;
  model: string | null;
  createdAt: string;
}

export interface Recordings {
  segments: Array<{ start: string; end: string; durationMs: number; bytes: number }>;
  gaps: Array<{ start: string; end: string }>;
}

const SWEEP_EVERY_MS = 60_000;
/** Camera clocks drift (and reset to 1970 after a power cut): checked at start, on add and this often. */
const CLOCK_CHECK_EVERY_MS = 6 * 3_600_000;
/** A snapshot is served again for this long: a phone grid asking every tile at once costs one fetch. */
const SNAPSHOT_TTL_MS = 2000;

/**
 * Cameras: adding one (its ONVIF login checked and its profiles read, or its RTSP stream
 * probed), recording each around the clock, the index of what was recorded, and the disk kept
 * from filling up.
 */
export class CamerasService implements HubModule {
  readonly name = 'cameras';
  #repo: CamerasRepo;
  #bus: EventBus;
  #log: Logger;
  #config: Config;
  #dir: string;
  #runDir: string;
  #recorders = new Map<string, CameraRecorder>();
  #sweeper: RetentionSweeper;
  #live: LiveService | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #clockTimer: NodeJS.Timeout | undefined;
  /** Per camera: the snapshot being taken (shared by every request meanwhile) or taken at `doneAt`. */
  #snapshots = new Map<string, { taken: Promise<Snapshot>; doneAt: number | null }>();

  constructor(deps: { repo: CamerasRepo; bus: EventBus; log: Logger; config: Config; live?: LiveService }) {
    this.#live = deps.live;
    this.#repo = deps.repo;
    this.#bus = deps.bus;
    this.#log = deps.log;
    this.#config = deps.config;
    this.#dir = resolve(deps.config.recording.dir || join(deps.config.dataDir, 'recordings'));
    this.#runDir = resolve(deps.config.dataDir, 'run');
    this.#sweeper = new RetentionSweeper({
      repo: deps.repo,
      log: deps.log,
      options: {
        dir: this.#dir,
        retentionDays: deps.config.recording.retentionDays,
        minFreeBytes: deps.config.recording.minFreeMb * 1024 * 1024,
      },
    });
  }

  get recordingsDir(): string {
    return this.#dir;
  }

  async start(): Promise<void> {
    // ffmpegs left by a hub that died: a camera must never get two recorder sessions.
    await mkdir(this.#dir, { recursive: true });
    await FfmpegSupervisor.reapOrphans(this.#runDir, this.#log, this.#config.recording.ffmpegPath);
    // And any recorder still writing into our folder that no pidfile named.
    await reapByCommandLine(`${this.#dir}/`, this.#log, {
      ffmpegName: basename(this.#config.recording.ffmpegPath),
    });
    for (const camera of this.#repo.listCameras()) {
      await reconcileCamera({ repo: this.#repo, dir: this.#dir, cameraId: camera.id, log: this.#log }).catch(
        (err) => this.#log.error({ err, cameraId: camera.id }, 'could not reconcile recordings'),
      );
      this.#startRecorder(camera);
    }
    const sweep = () =>
      this.#sweeper.sweep().catch((err) => this.#log.error({ err }, 'retention sweep failed'));
    void sweep();
    this.#sweepTimer = setInterval(sweep, SWEEP_EVERY_MS);
    void this.#checkClocks();
    this.#clockTimer = setInterval(() => void this.#checkClocks(), CLOCK_CHECK_EVERY_MS);
    this.#clockTimer.unref();
    // And after every closed segment: a small disk fills between two timed sweeps (statfs is cheap).
    this.#bus.on('cameras-retention', 'segmentClosed', () => void sweep());
    this.#sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweepTimer);
    clearInterval(this.#clockTimer);
    this.#bus.removeOwner('cameras-retention');
    await Promise.all([...this.#recorders.values()].map((r) => r.stop()));
    this.#recorders.clear();
  }

  list(): CameraView[] {
    return this.#repo.listCameras().map((c) => this.#view(c));
  }

  get(id: string): CameraView {
    return this.#view(this.#camera(id));
  }

  async add(spec: NewCamera, actor: Actor): Promise<CameraView> {
    if ((spec.onvif ? 1 : 0) + (spec.rtsp ? 1 : 0) !== 1) {
      throw new KhuError('KHU_BAD_REQUEST', 'give either onvif {address, username, password} or rtsp {url}');
    }
    const id = `cam-${randomBytes(3).toString('hex')}`;
    const now = new Date().toISOString();
    let record: CameraRecord;
    if (spec.onvif) {
      const info = await inspectOnvifCamera({ ...spec.onvif, timeoutMs: 5000 });
      record = {
        id,
        name: spec.name,
        kind: 'onvif',
        onvifAddress: spec.onvif.address,
        username: spec.onvif.username,
        password: spec.onvif.password,
        mainUri: info.main.uri,
        subUri: info.sub?.uri ?? null,
        snapshotUri: info.snapshotUri,
        info: {
          manufacturer: info.manufacturer,
          model: info.model,
          firmware: info.firmware,
          serial: info.serial,
          main: { width: info.main.width, height: info.main.height, token: info.main.token },
          sub: info.sub && { width: info.sub.width, height: info.sub.height, token: info.sub.token },
        },
        retentionDays: null,
        createdAt: now,
      };
    } else {
      const rtsp = spec.rtsp!;
      const url = checkStreamUri(rtsp.url, 'rtsp.url');
      // A login may come inside the URL or beside it; it is kept apart from the stored address.
      const username = rtsp.username ?? (url.username ? decodeURIComponent(url.username) : null);
      const password = rtsp.password ?? (url.password ? decodeURIComponent(url.password) : null);
      const mainUri = withoutCredentials(url);
      const stream = await probeRtspStream(withCredentials(mainUri, username, password));
      record = {
        id,
        name: spec.name,
        kind: 'rtsp',
        onvifAddress: null,
        username,
        password,
        mainUri,
        subUri: null,
        snapshotUri: null,
        info: { main: { width: stream.width, height: stream.height } },
        retentionDays: null,
        createdAt: now,
      };
    }
    this.#repo.insertCamera(record);
    this.#startRecorder(record);
    void this.#checkClock(record);
    this.#bus.emit('audit', {
      actor,
      action: 'camera.added',
      target: id,
      data: { name: spec.name, kind: record.kind },
    });
    this.#log.info({ cameraId: id, kind: record.kind, mainUri: record.mainUri }, 'camera added');
    return this.#view(record);
  }

  async remove(id: string, actor: Actor): Promise<void> {
    this.#camera(id);
    await this.#recorders.get(id)?.stop();
    this.#recorders.delete(id);
    await this.#live?.drop(id);
    this.#repo.removeCamera(id);
    await rm(join(this.#dir, id), { recursive: true, force: true });
    this.#bus.emit('audit', { actor, action: 'camera.removed', target: id });
  }

  /** Segments overlapping [from, to), the one being written included (its end is now), and the gaps. */
  recordings(id: string, from: string, to: string): Recordings {
    this.#camera(id);
    const segments = this.#repo.segments(id, from, to).map((s) => ({
      start: s.start,
      end: s.end,
      durationMs: s.durationMs,
      bytes: s.bytes,
    }));
    const open = this.#recorders.get(id)?.openSegment();
    const now = new Date().toISOString();
    if (open && open.start < to && now > from) {
      segments.push({
        start: open.start,
        end: now,
        durationMs: Date.parse(now) - Date.parse(open.start),
        bytes: 0,
      });
    }
    const until = to < now ? to : now;
    return { segments, gaps: from < until ? gapsIn(segments, from, until) : [] };
  }

  /**
   * Segments to play back over [from, to), in time order, the one being written included:
   * `ref` is the index id, or `open` for the segment being written.
   */
  playable(id: string, from: string, to: string): Array<PlayableSegment & { file: string }> {
    this.#camera(id);
    const out: Array<PlayableSegment & { file: string }> = this.#repo.segments(id, from, to).map((s) => ({
      ref: String(s.id),
      start: s.start,
      durationMs: s.durationMs,
      file: join(this.#dir, s.path),
    }));
    const open = this.#recorders.get(id)?.openSegment();
    const now = new Date().toISOString();
    if (open && open.start < to && now > from && !out.some((s) => s.start === open.start)) {
      out.push({
        ref: 'open',
        start: open.start,
        durationMs: Date.parse(now) - Date.parse(open.start),
        file: join(this.#dir, open.path),
      });
    }
    return out.sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  /** The file of one segment (`ref` from playable()), or a 404. */
  segmentFile(id: string, ref: string): string {
    this.#camera(id);
    if (ref === 'open') {
      const open = this.#recorders.get(id)?.openSegment();
      if (!open) throw notFound('segment being written (the camera is not recording now)');
      return join(this.#dir, open.path);
    }
    const n = Number(ref);
    const seg = Number.isSafeInteger(n) && n > 0 ? this.#repo.getSegment(id, n) : undefined;
    if (!seg) throw notFound(`segment ${ref}`);
    return join(this.#dir, seg.path);
  }

  /**
   * What the camera sees now, as a JPEG (from its snapshot address, else a frame of its main
   * stream). Requests for the same camera while one is being taken share it, and a picture is
   * served again for SNAPSHOT_TTL_MS; a failure is not kept: the next request tries again.
   */
  async snapshot(id: string): Promise<Snapshot> {
    const camera = this.#camera(id);
    const now = Date.now();
    for (const [key, entry] of this.#snapshots) {
      if (entry.doneAt !== null && now - entry.doneAt >= SNAPSHOT_TTL_MS) this.#snapshots.delete(key);
    }
    const current = this.#snapshots.get(id);
    if (current) return current.taken;
    const entry: { taken: Promise<Snapshot>; doneAt: number | null } = {
      taken: takeSnapshot(
        {
          cameraId: camera.id,
          snapshotUri: camera.snapshotUri,
          mainUri: camera.mainUri,
          mainUrlWithLogin: withCredentials(camera.mainUri, camera.username, camera.password),
          login: camera.username ? { username: camera.username, password: camera.password ?? '' } : null,
          ffmpegPath: this.#config.recording.ffmpegPath,
        },
        this.#log.child({ cameraId: camera.id }),
      ),
      doneAt: null,
    };
    this.#snapshots.set(id, entry);
    entry.taken.then(
      () => {
        entry.doneAt = Date.now();
      },
      () => {
        if (this.#snapshots.get(id) === entry) this.#snapshots.delete(id);
      },
    );
    return entry.taken;
  }

  discover(options: { unicast?: string[]; multicast?: boolean }): Promise<DiscoveredCamera[]> {
    return discoverCameras({
      interfaceAddress: this.#config.discovery.interface || undefined,
      timeoutMs: this.#config.discovery.timeoutMs,
      log: this.#log,
      ...options,
    });
  }

  /** Each ONVIF camera's clock, one after the other, set to the hub's where it is off by more than 5 s. */
  async #checkClocks(): Promise<void> {
    for (const camera of this.#repo.listCameras()) await this.#checkClock(camera);
  }

  async #checkClock(c: CameraRecord): Promise<void> {
    if (c.kind !== 'onvif' || !c.onvifAddress) return;
    try {
      const { driftMs, corrected } = await syncOnvifClock({
        address: c.onvifAddress,
        username: c.username ?? '',
        password: c.password ?? '',
      });
      if (!corrected) return;
      this.#log.info({ cameraId: c.id, driftMs: Math.round(driftMs) }, 'camera clock set to the hub’s');
      this.#bus.emit('audit', {
        actor: { kind: 'system', name: 'cameras' },
        action: 'camera.clock_set',
        target: c.id,
        data: { driftMs: Math.round(driftMs) },
      });
    } catch (err) {
      this.#log.warn({ err, cameraId: c.id }, 'could not check the camera’s clock');
    }
  }

  /** The camera's sub stream (for tiles) with its login, when it has one. */
  subSource(id: string): SubSource | undefined {
    const c = this.#repo.getCamera(id);
    if (!c?.subUri) return undefined;
    return { cameraId: id, inputUrl: withCredentials(c.subUri, c.username, c.password) };
  }

  #camera(id: string): CameraRecord {
    const c = this.#repo.getCamera(id);
    if (!c) throw notFound(`camera ${id}`);
    return c;
  }

  #view(c: CameraRecord): CameraView {
    const recorder = this.#recorders.get(c.id);
    return {
      id: c.id,
      name: c.name,
      kind: c.kind,
      onvifAddress: c.onvifAddress,
      mainUri: c.mainUri,
      subUri: c.subUri,
      hasSnapshot: c.snapshotUri !== null,
      status: recorder?.state ?? 'offline',
      lastSegmentAt: recorder?.lastSegmentAt ?? this.#repo.lastSegment(c.id)?.end ?? null,
      manufacturer: typeof c.info.manufacturer === 'string' ? c.info.manufacturer : null,
      model: typeof c.info.model === 'string' ? c.info.model : null,
      createdAt: c.createdAt,
    };
  }

  #startRecorder(c: CameraRecord): void {
    const input = withCredentials(c.mainUri, c.username, c.password);
    const recorder = new CameraRecorder({
      options: {
        cameraId: c.id,
        inputUrl: input,
        dir: this.#dir,
        runDir: this.#runDir,
        segmentSeconds: this.#config.recording.segmentSeconds,
        fragmentMs: this.#config.recording.fragmentMs,
        ffmpegPath: this.#config.recording.ffmpegPath,
        probe: (signal) => tcpProbe(c.mainUri, signal),
      },
      repo: this.#repo,
      bus: this.#bus,
      log: this.#log.child({ cameraId: c.id }),
    });
    this.#recorders.set(c.id, recorder);
    this.#live?.follow(c.id, () => {
      const open = recorder.openSegment();
      return open && join(this.#dir, open.path);
    });
    recorder.start();
  }
}
