/**
 * Home: the entry cameras as live tiles (sub stream, playing only while on screen, the snapshot
 * as poster) and the lights of the resident's streets.
 */
import { api, type Camera, enc } from '../api.js';
import type { Screen } from '../app.js';
import { append, h, icon, replace } from '../dom.js';
import { t } from '../i18n.js';
import { LightsPanel } from '../lights-panel.js';
import { LivePlayer, type LiveState } from '../live-player.js';
import { describe } from './forms.js';

export const homeScreen: Screen = async ({ main, user, app }) => {
  const tiles = h('div', { class: 'tiles', 'aria-busy': 'true' });
  const panel = new LightsPanel({
    user: user!,
    compact: true,
    toast: (m) => app.toast(m),
    onSessionEnded: () => app.sessionEnded(),
  });
  append(main, [
    h('h1', { class: 'sr-only' }, t('home.title')),
    app.notice ? h('p', { class: 'notice', role: 'status' }, app.notice) : null,
    h('h2', { class: 'section' }, icon('camera'), t('home.cameras')),
    tiles,
    h('h2', { class: 'section' }, icon('bulb'), t('home.lights')),
    panel.el,
    h('a', { class: 'btn wide', href: '#/lights' }, t('home.allLights')),
  ]);
  app.notice = null;
  panel.start();

  const players = new Map<Element, LivePlayer>();
  const observer =
    'IntersectionObserver' in window
      ? new IntersectionObserver(
          (entries) => {
            for (const e of entries) {
              const player = players.get(e.target);
              if (!player) continue;
              if (e.isIntersecting) player.start();
              else player.stop();
            }
          },
          { threshold: 0.25 },
        )
      : undefined;

  let cameras: Camera[] = [];
  try {
    cameras = await api<Camera[]>('GET', '/api/cameras');
  } catch (err) {
    replace(tiles, h('p', { class: 'error' }, describe(err)));
  }
  tiles.setAttribute('aria-busy', 'false');
  if (cameras.length === 0 && !tiles.firstChild)
    replace(tiles, h('p', { class: 'hint' }, t('home.noCameras')));
  for (const cam of cameras) {
    const video = h('video', {
      muted: true,
      playsinline: true,
      autoplay: true,
      poster: `/api/cameras/${enc(cam.id)}/snapshot.jpg?t=${Date.now()}`,
      'aria-hidden': 'true',
    });
    const status = h('span', { class: 'tile-status' }, t('live.connecting'));
    const tile = h(
      'a',
      { class: 'tile', href: `#/camera/${enc(cam.id)}`, 'data-camera': cam.id, 'data-state': 'connecting' },
      video,
      h('span', { class: 'tile-name' }, cam.name),
      status,
    );
    const player = new LivePlayer({
      cameraId: cam.id,
      stream: cam.subUri ? 'sub' : 'main',
      video,
      onState: (s: LiveState) => {
        tile.setAttribute('data-state', s);
        status.textContent = t(`live.${s}`);
      },
      onSessionEnded: () => app.sessionEnded(),
    });
    players.set(tile, player);
    tiles.append(tile);
    if (observer) observer.observe(tile);
    else player.start();
  }

  return () => {
    observer?.disconnect();
    for (const p of players.values()) p.stop();
    panel.stop();
  };
};
