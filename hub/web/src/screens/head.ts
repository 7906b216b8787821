/**
 * The area head's pages: the event log, invitations (create → QR code and link, list, withdraw)
 * and residents (list, remove). Residents never get here: the route needs the head role, and
 * the hub refuses these APIs to them anyway.
 */
import { api, enc, type User } from '../api.js';
import type { Ctx, Screen } from '../app.js';
import { h, replace } from '../dom.js';
import { formatDateTime, t } from '../i18n.js';
import { describe, errorBox, field, showError } from './forms.js';

interface LogEvent {
  id: number;
  at: string;
  type: string;
  actor: string | null;
  target: string | null;
  message: string;
  data: Record<string, unknown> | null;
}

/** A sentence in the reader's language where the catalogue knows the event, else the hub's own. */
function eventText(e: LogEvent): string {
  const to = e.data?.to;
  if (e.type === 'light.switched' && (to === 'on' || to === 'off'))
    return t(`event.light.${to}`, { light: e.target ?? '' });
  const key = `event.${e.type}`;
  return t(key) === key ? e.message : t(key);
}

interface Invite {
  id: string;
  household: string;
  zones: string[];
  status: 'pending' | 'used' | 'expired' | 'revoked';
  createdAt: string;
  expiresAt: string;
  usedBy: string | null;
}

type Tab = 'events' | 'invites' | 'residents';

export const headScreen: Screen = async (ctx) => {
  const tab = (ctx.params[0] as Tab | undefined) ?? 'events';
  const tabs = (['events', 'invites', 'residents'] as Tab[]).map((k) =>
    h(
      'a',
      { class: 'tab', href: `#/head/${k}`, 'aria-current': k === tab ? 'page' : undefined },
      t(`head.tab.${k}`),
    ),
  );
  const body = h('div', { class: 'stack' });
  ctx.main.append(
    h('h1', null, t(`head.title.${tab}`)),
    h('nav', { class: 'tabs', 'aria-label': t('head.tabs') }, tabs),
    body,
  );
  if (tab === 'invites') await invites(body, ctx);
  else if (tab === 'residents') await residents(body, ctx);
  else await events(body, ctx);
  return undefined;
};

async function events(body: HTMLElement, ctx: Ctx): Promise<void> {
  const list = h('ol', { class: 'event-list' });
  const more = h('button', { type: 'button', class: 'btn wide', hidden: true }, t('head.more'));
  let filter = '';
  let next: number | null = null;
  const load = async (reset: boolean) => {
    const q = new URLSearchParams({ limit: '50' });
    if (filter) q.set('type', filter);
    if (!reset && next) q.set('before', String(next));
    try {
      const page = await api<{ events: LogEvent[]; next: number | null }>('GET', `/api/events?${q}`);
      if (reset) replace(list);
      next = page.next;
      more.hidden = next === null;
      for (const e of page.events) {
        list.append(
          h(
            'li',
            { class: `event kind-${e.type.split('.')[0]}`, 'data-type': e.type },
            h('time', { datetime: e.at }, formatDateTime(Date.parse(e.at))),
            h('span', { class: 'event-text' }, eventText(e)),
            h(
              'span',
              { class: 'event-who' },
              [e.actor?.replace(/^user:/, ''), e.target].filter(Boolean).join(' · '),
            ),
          ),
        );
      }
      if (reset && page.events.length === 0) list.append(h('li', { class: 'hint' }, t('head.noEvents')));
    } catch (err) {
      ctx.app.toast(describe(err));
    }
  };
  more.addEventListener('click', () => void load(false));
  const filters = [
    ['', 'head.filter.all'],
    ['light.*', 'head.filter.lights'],
    ['alarm.*', 'head.filter.alarms'],
    ['camera.*', 'head.filter.cameras'],
  ].map(([value, key]) => {
    const b = h(
      'button',
      { type: 'button', class: 'btn choice', 'aria-pressed': String(value === filter) },
      t(key!),
    );
    b.addEventListener('click', () => {
      filter = value!;
      for (const other of filterRow.children) other.setAttribute('aria-pressed', String(other === b));
      void load(true);
    });
    return b;
  });
  const filterRow = h(
    'div',
    { class: 'choices', role: 'group', 'aria-label': t('head.filter.label') },
    filters,
  );
  body.append(filterRow, list, more);
  await load(true);
}

async function invites(body: HTMLElement, ctx: Ctx): Promise<void> {
  const household = h('input', { name: 'household', required: true, maxlength: '80', autocomplete: 'off' });
  const zone = h('select', { name: 'zone' }, h('option', { value: '' }, t('invite.allZones')));
  const ttl = h(
    'select',
    { name: 'ttl' },
    [24, 72, 168].map((hours) =>
      h('option', { value: String(hours), selected: hours === 72 }, t('invite.days', { n: hours / 24 })),
    ),
  );
  const error = errorBox();
  const result = h('div', { class: 'invite-result', 'aria-live': 'polite' });
  const list = h('ul', { class: 'invite-list' });
  const form = h(
    'form',
    { class: 'card form', novalidate: true },
    h('h2', null, t('invite.new')),
    field(t('invite.household'), household, t('invite.householdHint')),
    field(t('invite.zone'), zone),
    field(t('invite.ttl'), ttl),
    error,
    h('button', { type: 'submit', class: 'btn primary wide' }, t('invite.create')),
  );
  try {
    const zones = await api<Array<{ zone: string }>>('GET', '/api/zones');
    for (const z of zones) zone.append(h('option', { value: z.zone }, z.zone));
  } catch {
    // Without zones the invitation covers every street.
  }

  const refresh = async () => {
    try {
      const all = await api<Invite[]>('GET', '/api/invites');
      replace(
        list,
        all.length === 0 ? h('li', { class: 'hint' }, t('invite.none')) : null,
        all.map((inv) =>
          h(
            'li',
            { class: `invite ${inv.status}`, 'data-invite': inv.id },
            h('strong', null, inv.household),
            h('span', { class: `badge ${inv.status}` }, t(`invite.status.${inv.status}`)),
            h(
              'span',
              { class: 'hint' },
              inv.status === 'used' && inv.usedBy
                ? t('invite.usedBy', { username: inv.usedBy })
                : t('invite.expires', { time: formatDateTime(Date.parse(inv.expiresAt)) }),
            ),
            inv.status === 'pending'
              ? h(
                  'div',
                  { class: 'actions' },
                  h(
                    'button',
                    { type: 'button', class: 'btn', onclick: () => showQr(inv.id, null) },
                    t('invite.showQr'),
                  ),
                  h(
                    'button',
                    {
                      type: 'button',
                      class: 'btn danger',
                      onclick: async () => {
                        if (!window.confirm(t('invite.revokeConfirm', { household: inv.household }))) return;
                        try {
                          await api('DELETE', `/api/invites/${enc(inv.id)}`);
                          replace(result);
                          await refresh();
                        } catch (err) {
                          ctx.app.toast(describe(err));
                        }
                      },
                    },
                    t('invite.revoke'),
                  ),
                )
              : null,
          ),
        ),
      );
    } catch (err) {
      ctx.app.toast(describe(err));
    }
  };

  const showQr = (id: string, url: string | null) => {
    const link = url ? h('a', { class: 'join-link', href: url }, url) : null;
    replace(
      result,
      h(
        'section',
        { class: 'card qr', 'data-invite': id },
        h('h2', null, t('invite.qrTitle')),
        h('img', {
          class: 'qr-img',
          src: `/api/invites/${enc(id)}/qr.svg`,
          alt: t('invite.qrAlt'),
          width: 280,
          height: 280,
        }),
        h('p', { class: 'hint' }, t(url ? 'invite.qrHint' : 'invite.qrHintNoLink')),
        link,
        h('button', { type: 'button', class: 'btn', onclick: () => window.print() }, t('invite.print')),
      ),
    );
    result.scrollIntoView({ block: 'start' });
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (!household.value.trim()) {
      showError(error, t('invite.householdMissing'));
      return;
    }
    try {
      const created = await api<Invite & { url: string }>('POST', '/api/invites', {
        role: 'resident',
        household: household.value.trim(),
        zones: zone.value ? [zone.value] : [],
        ttlHours: Number(ttl.value),
      });
      household.value = '';
      showQr(created.id, created.url);
      await refresh();
    } catch (err) {
      showError(error, describe(err));
    }
  });
  body.append(form, result, h('h2', null, t('invite.listTitle')), list);
  await refresh();
}

async function residents(body: HTMLElement, ctx: Ctx): Promise<void> {
  const list = h('ul', { class: 'resident-list' });
  body.append(list);
  const refresh = async () => {
    try {
      const users = (await api<User[]>('GET', '/api/users')).filter((u) => u.role === 'resident');
      replace(
        list,
        users.length === 0 ? h('li', { class: 'hint' }, t('residents.none')) : null,
        users.map((u) =>
          h(
            'li',
            { class: 'resident', 'data-user': u.username },
            h('strong', null, u.displayName || u.username),
            h('span', { class: 'hint' }, t('residents.login', { username: u.username })),
            h('span', { class: 'hint' }, u.zones.length ? u.zones.join(', ') : t('invite.allZones')),
            h(
              'button',
              {
                type: 'button',
                class: 'btn danger',
                onclick: async () => {
                  if (!window.confirm(t('residents.removeConfirm', { name: u.displayName || u.username })))
                    return;
                  try {
                    await api('DELETE', `/api/users/${enc(u.username)}`);
                    await refresh();
                  } catch (err) {
                    ctx.app.toast(describe(err));
                  }
                },
              },
              t('residents.remove'),
            ),
          ),
        ),
      );
    } catch (err) {
      ctx.app.toast(describe(err));
    }
  };
  await refresh();
}
