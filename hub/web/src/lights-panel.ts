/**
 * Streets and their lights, kept current by the hub's server-sent events (`lights` on connect,
 * then `light` on every change): a change made by anyone shows here within a moment. Each light
 * and each street has a big on/off switch; a light whose relay has not confirmed shows as
 * pending, one whose relay is away as offline.
 */
import { api, enc, hasRole, type Light, type User } from './api.js';
import { h, icon, replace } from './dom.js';
import { t } from './i18n.js';
import { describe } from './screens/forms.js';

export interface LightsPanelOptions {
  user: User;
  /** Only the street switches and counts (home), or every light too (lights page). */
  compact: boolean;
  toast: (message: string) => void;
  onSessionEnded: () => void;
}

const shownState = (l: Light): 'on' | 'off' => ((l.desired ?? l.reported) === 'on' ? 'on' : 'off');

export class LightsPanel {
  readonly el = h('div', { class: 'lights', 'aria-live': 'polite', 'aria-busy': 'true' });
  readonly #o: LightsPanelOptions;
  #lights = new Map<string, Light>();
  #source: EventSource | undefined;
  #frame = 0;

  constructor(options: LightsPanelOptions) {
    this.#o = options;
    this.el.append(h('p', { class: 'hint' }, t('common.loading')));
  }

  start(): void {
    const source = new EventSource('/api/events/stream');
    this.#source = source;
    source.addEventListener('lights', (e) => {
      this.#lights = new Map((JSON.parse((e as MessageEvent).data) as Light[]).map((l) => [l.id, l]));
      this.#schedule();
    });
    source.addEventListener('light', (e) => {
      const l = JSON.parse((e as MessageEvent).data) as Light;
      this.#lights.set(l.id, l);
      this.#schedule();
    });
    source.onerror = () => {
      // EventSource retries by itself; a refused stream (session over) closes for good.
      if (source.readyState === EventSource.CLOSED) {
        api('GET', '/api/auth/me').catch(() => this.#o.onSessionEnded());
      }
    };
  }

  stop(): void {
    this.#source?.close();
    this.#source = undefined;
    cancelAnimationFrame(this.#frame);
  }

  /** Many changes at once (a whole street) render once per frame. */
  #schedule(): void {
    cancelAnimationFrame(this.#frame);
    this.#frame = requestAnimationFrame(() => this.#render());
  }

  #zonesOfUser(all: string[]): string[] {
    const { user } = this.#o;
    if (hasRole(user, 'head') || user.zones.length === 0) return all;
    return all.filter((z) => user.zones.includes(z));
  }

  #render(): void {
    const byZone = new Map<string, Light[]>();
    for (const l of this.#lights.values()) {
      const list = byZone.get(l.zone) ?? [];
      list.push(l);
      byZone.set(l.zone, list);
    }
    const zones = this.#zonesOfUser([...byZone.keys()].sort((a, b) => a.localeCompare(b, 'vi')));
    this.el.setAttribute('aria-busy', 'false');
    if (zones.length === 0) {
      replace(this.el, h('p', { class: 'hint' }, t('lights.none')));
      return;
    }
    replace(
      this.el,
      zones.map((zone) => this.#zoneCard(zone, byZone.get(zone)!)),
    );
  }

  #zoneCard(zone: string, lights: Light[]): HTMLElement {
    lights.sort((a, b) => a.name.localeCompare(b.name, 'vi', { numeric: true }));
    const on = lights.filter((l) => shownState(l) === 'on').length;
    const offline = lights.filter((l) => !l.online).length;
    const pending = lights.filter((l) => l.pending).length;
    return h(
      'section',
      { class: 'card zone', 'data-zone': zone },
      h('h2', null, icon('bulb'), zone),
      h(
        'p',
        { class: 'zone-summary' },
        t('lights.count', { on, all: lights.length }),
        offline ? h('span', { class: 'badge offline' }, t('lights.offlineCount', { n: offline })) : null,
        pending ? h('span', { class: 'badge pending' }, t('lights.pendingCount', { n: pending })) : null,
      ),
      h(
        'div',
        { class: 'zone-actions' },
        h(
          'button',
          { type: 'button', class: 'btn on', onclick: () => void this.#switchZone(zone, 'on') },
          t('lights.zoneOn'),
        ),
        h(
          'button',
          { type: 'button', class: 'btn off', onclick: () => void this.#switchZone(zone, 'off') },
          t('lights.zoneOff'),
        ),
      ),
      this.#o.compact
        ? null
        : h(
            'ul',
            { class: 'light-list' },
            lights.map((l) => this.#row(l)),
          ),
    );
  }

  #row(l: Light): HTMLElement {
    const state = shownState(l);
    const status = !l.online ? t('lights.offline') : l.pending ? t('lights.pending') : t(`lights.${state}`);
    return h(
      'li',
      {
        class: `light ${state}${l.pending ? ' is-pending' : ''}${l.online ? '' : ' is-offline'}`,
        'data-light': l.id,
      },
      h('span', { class: 'light-name' }, l.name, h('span', { class: 'light-status' }, status)),
      h(
        'button',
        {
          type: 'button',
          class: 'switch',
          role: 'switch',
          'aria-checked': String(state === 'on'),
          'aria-label': `${l.name}: ${t(state === 'on' ? 'lights.turnOff' : 'lights.turnOn')}`,
          onclick: () => void this.#switchLight(l, state === 'on' ? 'off' : 'on'),
        },
        h('span', { class: 'knob', 'aria-hidden': 'true' }),
        h(
          'span',
          { class: 'switch-text', 'aria-hidden': 'true' },
          t(state === 'on' ? 'lights.onShort' : 'lights.offShort'),
        ),
      ),
    );
  }

  async #switchLight(l: Light, state: 'on' | 'off'): Promise<void> {
    // Shown at once as asked and pending; the hub's answer (and its events) settle it.
    this.#lights.set(l.id, { ...l, desired: state, pending: true });
    this.#schedule();
    try {
      const answer = await api<Light>('POST', `/api/lights/${enc(l.id)}/state`, { state });
      this.#lights.set(answer.id, answer);
    } catch (err) {
      this.#lights.set(l.id, l);
      this.#o.toast(describe(err));
    }
    this.#schedule();
  }

  async #switchZone(zone: string, state: 'on' | 'off'): Promise<void> {
    for (const l of this.#lights.values())
      if (l.zone === zone) this.#lights.set(l.id, { ...l, desired: state, pending: true });
    this.#schedule();
    try {
      const answer = await api<{ lights: Light[] }>('POST', `/api/zones/${enc(zone)}/state`, { state });
      for (const l of answer.lights) this.#lights.set(l.id, l);
    } catch (err) {
      this.#o.toast(describe(err));
    }
    this.#schedule();
  }
}
