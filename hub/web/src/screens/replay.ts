/**
 * Playback: a day's timeline of recorded stretches and gaps (whole day, one hour, ten minutes),
 * tap or drag to a moment and it plays from there; save a clip from the moment on screen, or
 * the last two minutes, as an MP4 download.
 */
import { api, enc } from '../api.js';
import type { Screen } from '../app.js';
import { h, icon, replace } from '../dom.js';
import { formatDate, formatTime, t } from '../i18n.js';
import { RecordedPlayer } from '../recorded-player.js';
import { DAY, HOUR, iso, MINUTE, startOfLocalDay, zoneOffsetMs } from '../time.js';
import { type Stretch, Timeline } from '../timeline.js';
import { cameraName, requestFullscreen } from './camera.js';
import { describe } from './forms.js';

interface Recordings {
  segments: Array<{ start: string; end: string }>;
  gaps: Array<{ start: string; end: string }>;
}

type Zoom = 'day' | 'hour' | 'tenmin';
const ZOOM_SPAN: Record<Zoom, number> = { day: DAY, hour: HOUR, tenmin: 10 * MINUTE };
const CLIP_LENGTHS = [30_000, MINUTE, 2 * MINUTE, 5 * MINUTE];
/** Segments closer than this are one stretch on the bar. */
const JOIN_MS = 2000;

export function stretchesOf(rec: Recordings): Stretch[] {
  const out: Stretch[] = [];
  const sorted = rec.segments
    .map((s) => ({ start: Date.parse(s.start), end: Date.parse(s.end) }))
    .sort((a, b) => a.start - b.start);
  for (const s of sorted) {
    const last = out[out.length - 1];
    if (last && s.start - last.end <= JOIN_MS) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

export const replayScreen: Screen = async ({ main, params, query, app }) => {
  const id = params[0]!;
  const title = h('h1', null, t('replay.title'));
  const video = h('video', { muted: true, playsinline: true, 'aria-label': t('replay.videoLabel') });
  const stage = h('div', { class: 'stage', 'data-state': 'idle' }, video);
  const player = new RecordedPlayer(video);
  const clock = h('p', { class: 'clock', 'aria-live': 'off' }, '—');
  const dayLabel = h('span', { class: 'day-label' });
  const message = h('p', { class: 'hint', role: 'status' });

  let zoom: Zoom = 'hour';
  let selected = Number(query.get('at') ? Date.parse(query.get('at')!) : Date.now() - MINUTE);
  if (Number.isNaN(selected)) selected = Date.now() - MINUTE;
  let dayStart = startOfLocalDay(selected);
  let stretches: Stretch[] = [];
  let clipLength = MINUTE;

  const timeline = new Timeline({
    label: t('replay.timeline'),
    onScrub: (ms) => {
      clock.textContent = formatTime(ms);
    },
    onPick: (ms) => void playAt(ms),
  });

  const zoomButtons = (['day', 'hour', 'tenmin'] as Zoom[]).map((z) =>
    h(
      'button',
      {
        type: 'button',
        class: 'btn choice',
        'data-zoom': z,
        onclick: () => {
          zoom = z;
          layout();
        },
      },
      t(`replay.zoom.${z}`),
    ),
  );
  const prevDay = h(
    'button',
    { type: 'button', class: 'btn', onclick: () => void changeDay(-1) },
    t('replay.prevDay'),
  );
  const nextDay = h(
    'button',
    { type: 'button', class: 'btn', onclick: () => void changeDay(1) },
    t('replay.nextDay'),
  );
  const step = (ms: number, key: string) =>
    h(
      'button',
      { type: 'button', class: 'btn', onclick: () => void playAt((player.position() ?? selected) + ms) },
      t(key),
    );

  const clipRange = h('p', { class: 'clip-range' });
  const clipLink = h(
    'a',
    { class: 'btn primary wide', href: '#', download: '', 'data-clip': 'chosen' },
    icon('download'),
    t('replay.saveClip'),
  );
  const lastTwo = h(
    'a',
    { class: 'btn wide', href: '#', download: '', 'data-clip': 'last2' },
    icon('download'),
    t('replay.saveLast2'),
  );
  const clipUrl = (from: number, to: number) =>
    `/api/cameras/${enc(id)}/clip.mp4?from=${enc(iso(from))}&to=${enc(iso(to))}`;
  const chosenClip = (): [number, number] => {
    const from = Math.floor(player.position() ?? selected);
    return [from, Math.min(from + clipLength, Date.now())];
  };
  const fileName = (from: number) =>
    `khu-${id}-${new Date(from + zoneOffsetMs(from)).toISOString().slice(0, 19).replace(/[:T]/g, '-')}.mp4`;
  // The address is made at the moment of the tap, from the moment then on screen.
  clipLink.addEventListener('click', () => {
    const [from, to] = chosenClip();
    clipLink.href = clipUrl(from, to);
    clipLink.download = fileName(from);
  });
  lastTwo.addEventListener('click', () => {
    const now = Date.now();
    lastTwo.href = clipUrl(now - 2 * MINUTE, now);
    lastTwo.download = fileName(now - 2 * MINUTE);
  });
  const lengthButtons = CLIP_LENGTHS.map((ms) =>
    h(
      'button',
      {
        type: 'button',
        class: 'btn choice',
        'data-length': ms / 1000,
        onclick: () => {
          clipLength = ms;
          updateClip();
        },
      },
      ms < MINUTE ? t('replay.seconds', { n: ms / 1000 }) : t('replay.minutes', { n: ms / MINUTE }),
    ),
  );
  const updateClip = () => {
    for (const b of lengthButtons)
      b.setAttribute('aria-pressed', String(Number(b.dataset.length) * 1000 === clipLength));
    const [from, to] = chosenClip();
    clipRange.textContent = t('replay.clipRange', { from: formatTime(from), to: formatTime(to) });
  };

  main.append(
    h('a', { class: 'btn ghost back', href: `#/camera/${enc(id)}` }, icon('back'), t('replay.backLive')),
    title,
    stage,
    clock,
    message,
    h('div', { class: 'day-nav' }, prevDay, dayLabel, nextDay),
    h('div', { class: 'choices', role: 'group', 'aria-label': t('replay.zoomLabel') }, zoomButtons),
    timeline.el,
    h(
      'p',
      { class: 'legend' },
      h('span', { class: 'key rec' }),
      t('replay.legendRec'),
      h('span', { class: 'key gap' }),
      t('replay.legendGap'),
    ),
    h(
      'div',
      { class: 'actions steps' },
      step(-MINUTE, 'replay.back1m'),
      step(-10_000, 'replay.back10s'),
      step(10_000, 'replay.fwd10s'),
      step(MINUTE, 'replay.fwd1m'),
    ),
    h(
      'div',
      { class: 'actions' },
      h('a', { class: 'btn', href: `#/camera/${enc(id)}` }, t('replay.backLive')),
      h(
        'button',
        { type: 'button', class: 'btn', onclick: () => requestFullscreen(stage, video) },
        icon('expand'),
        t('camera.fullscreen'),
      ),
    ),
    h(
      'section',
      { class: 'card clip' },
      h('h2', null, icon('download'), t('replay.clipTitle')),
      h('p', { class: 'hint' }, t('replay.clipHint')),
      h('div', { class: 'choices', role: 'group', 'aria-label': t('replay.clipLength') }, lengthButtons),
      clipRange,
      clipLink,
      lastTwo,
    ),
  );

  function layout(): void {
    for (const b of zoomButtons) b.setAttribute('aria-pressed', String(b.dataset.zoom === zoom));
    const span = ZOOM_SPAN[zoom];
    let start = zoom === 'day' ? dayStart : selected - span / 2;
    start = Math.max(dayStart, Math.min(start, dayStart + DAY - span));
    timeline.setWindow(start, start + span);
    timeline.setSelected(selected);
    dayLabel.textContent = formatDate(dayStart + 12 * HOUR);
    nextDay.disabled = dayStart + DAY > Date.now();
  }

  async function loadDay(): Promise<void> {
    const to = Math.min(dayStart + DAY, Date.now());
    if (to <= dayStart) {
      stretches = [];
    } else {
      try {
        stretches = stretchesOf(
          await api<Recordings>(
            'GET',
            `/api/cameras/${enc(id)}/recordings?from=${enc(iso(dayStart))}&to=${enc(iso(to))}`,
          ),
        );
      } catch (err) {
        app.toast(describe(err));
      }
    }
    timeline.setStretches(stretches);
  }

  async function changeDay(delta: number): Promise<void> {
    dayStart = startOfLocalDay(dayStart + delta * DAY + 12 * HOUR);
    selected = Math.min(dayStart + 12 * HOUR, Date.now() - MINUTE);
    layout();
    await loadDay();
  }

  /** Plays from `ms`, or from the next recorded moment when nothing was recorded then. */
  async function playAt(ms: number): Promise<void> {
    const now = Date.now();
    let at = Math.min(ms, now - 5000);
    if (stretches.length === 0 || at > stretches[stretches.length - 1]!.end - 2000) await loadDay();
    const inside = stretches.find((s) => at >= s.start && at < s.end);
    if (!inside) {
      const next = stretches.find((s) => s.start > at);
      if (!next) {
        message.textContent = t('replay.nothingAt', { time: formatTime(at) });
        return;
      }
      message.textContent = t('replay.jumped', { time: formatTime(at), next: formatTime(next.start) });
      at = next.start;
    } else {
      message.textContent = '';
    }
    selected = at;
    if (startOfLocalDay(at) !== dayStart) {
      dayStart = startOfLocalDay(at);
      await loadDay();
    }
    layout();
    clock.textContent = formatTime(at);
    stage.setAttribute('data-state', 'loading');
    stage.dataset.from = iso(at);
    await player.play(id, at);
  }

  player.onError = () => {
    stage.setAttribute('data-state', 'error');
    message.textContent = t('replay.error');
  };
  const onTime = () => {
    const pos = player.position();
    if (pos === undefined) return;
    stage.setAttribute('data-state', 'playing');
    stage.dataset.position = iso(pos);
    clock.textContent = formatTime(pos);
    timeline.setPlayhead(pos);
    updateClip();
  };
  video.addEventListener('timeupdate', onTime);
  const refresh = window.setInterval(() => {
    if (dayStart + DAY > Date.now()) void loadDay();
  }, 15_000);

  layout();
  updateClip();
  replace(message);
  cameraName(id).then(
    (name) => {
      title.textContent = t('replay.titleOf', { name });
    },
    () => {},
  );
  await loadDay();
  void playAt(selected);

  return () => {
    window.clearInterval(refresh);
    video.removeEventListener('timeupdate', onTime);
    player.stop();
  };
};
