import type { Screen } from '../app.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { LightsPanel } from '../lights-panel.js';

export const lightsScreen: Screen = ({ main, user, app }) => {
  const panel = new LightsPanel({
    user: user!,
    compact: false,
    toast: (m) => app.toast(m),
    onSessionEnded: () => app.sessionEnded(),
  });
  main.append(h('h1', null, t('lights.title')), panel.el);
  panel.start();
  return () => panel.stop();
};
