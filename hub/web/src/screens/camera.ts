/** One camera, live on the main stream, as big as the screen allows; playback one tap away. */
import { api, type Camera, enc } from '../api.js';
import type { Screen } from '../app.js';
import { h, icon } from '../dom.js';
import { t } from '../i18n.js';
import { LivePlayer, type LiveState } from '../live-player.js';
import { describe } from './forms.js';

export function requestFullscreen(el: HTMLElement, video: HTMLVideoElement): void {
  const anyEl = el as HTMLElement & { webkitRequestFullscreen?: () => void };
  const anyVideo = video as HTMLVideoElement & { webkitEnterFullscreen?: () => void };
  if (el.requestFullscreen) void el.requestFullscreen().catch(() => {});
  else if (anyEl.webkitRequestFullscreen) anyEl.webkitRequestFullscreen();
  else anyVideo.webkitEnterFullscreen?.(); // iPhone: only the video element goes full screen
}

export async function cameraName(id: string): Promise<string> {
  const cams = await api<Camera[]>('GET', '/api/cameras');
  return cams.find((c) => c.id === id)?.name ?? id;
}

export const cameraScreen: Screen = async ({ main, params, app }) => {
  const id = params[0]!;
  const title = h('h1', null, t('camera.title'));
  const video = h('video', {
    muted: true,
    playsinline: true,
    autoplay: true,
    poster: `/api/cameras/${enc(id)}/snapshot.jpg?t=${Date.now()}`,
    'aria-label': t('camera.videoLabel'),
  });
  const status = h('p', { class: 'live-status', role: 'status' }, t('live.connecting'));
  const stage = h('div', { class: 'stage', 'data-state': 'connecting' }, video, status);
  main.append(
    h('a', { class: 'btn ghost back', href: '#/' }, icon('back'), t('nav.back')),
    title,
    stage,
    h(
      'div',
      { class: 'actions' },
      h(
        'a',
        { class: 'btn primary', href: `#/camera/${enc(id)}/replay` },
        icon('history'),
        t('camera.replay'),
      ),
      h(
        'button',
        { type: 'button', class: 'btn', onclick: () => requestFullscreen(stage, video) },
        icon('expand'),
        t('camera.fullscreen'),
      ),
    ),
  );
  const player = new LivePlayer({
    cameraId: id,
    stream: 'main',
    video,
    onState: (s: LiveState) => {
      stage.setAttribute('data-state', s);
      status.textContent = t(`live.${s}`);
    },
    onSessionEnded: () => app.sessionEnded(),
  });
  player.start();
  cameraName(id).then(
    (name) => {
      title.textContent = name;
    },
    (err) => app.toast(describe(err)),
  );
  return () => player.stop();
};
