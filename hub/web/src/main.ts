/** Entry point: language, routes, then the first screen. */
import { App, type Route } from './app.js';
import { setLanguage, storedLanguage } from './i18n.js';

const lazy =
  <M>(load: () => Promise<M>, pick: (m: M) => import('./app.js').Screen) =>
  () =>
    load().then(pick);

const routes: Route[] = [
  {
    pattern: /^\/$/,
    needs: 'resident',
    nav: 'home',
    screen: lazy(
      () => import('./screens/home.js'),
      (m) => m.homeScreen,
    ),
  },
  {
    pattern: /^\/login$/,
    needs: 'none',
    screen: lazy(
      () => import('./screens/login.js'),
      (m) => m.loginScreen,
    ),
  },
  {
    pattern: /^\/join\/([A-Za-z0-9_-]+)$/,
    needs: 'none',
    screen: lazy(
      () => import('./screens/join.js'),
      (m) => m.joinScreen,
    ),
  },
  {
    pattern: /^\/camera\/([^/]+)$/,
    needs: 'resident',
    nav: 'home',
    screen: lazy(
      () => import('./screens/camera.js'),
      (m) => m.cameraScreen,
    ),
  },
  {
    pattern: /^\/camera\/([^/]+)\/replay$/,
    needs: 'resident',
    nav: 'home',
    screen: lazy(
      () => import('./screens/replay.js'),
      (m) => m.replayScreen,
    ),
  },
  {
    pattern: /^\/lights$/,
    needs: 'resident',
    nav: 'lights',
    screen: lazy(
      () => import('./screens/lights.js'),
      (m) => m.lightsScreen,
    ),
  },
  {
    pattern: /^\/head(?:\/(events|invites|residents))?$/,
    needs: 'head',
    nav: 'head',
    screen: lazy(
      () => import('./screens/head.js'),
      (m) => m.headScreen,
    ),
  },
];

async function main(): Promise<void> {
  await setLanguage(storedLanguage());
  const root = document.getElementById('app');
  if (!root) return;
  await new App(root, routes).start();
  // A service worker only where the browser allows one (https or localhost); plain http on the
  // LAN has none, and the app works the same without it.
  if (window.isSecureContext && 'serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js').catch(() => {});
  }
}

void main();
