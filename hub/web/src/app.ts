/**
 * The shell: session, layout (header with language and logout, bottom navigation), hash routes,
 * and the screen lifecycle — each screen returns a cleanup that stops its players and streams.
 */
import {
  ApiError,
  api,
  hasRole,
  type LoginAnswer,
  setCsrfToken,
  type User,
  whenUnauthorized,
} from './api.js';
import { clear, h, icon, replace } from './dom.js';
import { lang, setLanguage, t } from './i18n.js';

export interface Ctx {
  main: HTMLElement;
  params: string[];
  query: URLSearchParams;
  user: User | null;
  app: App;
}
export type Cleanup = () => void;
export type Screen = (ctx: Ctx) => Cleanup | undefined | Promise<Cleanup | undefined>;

interface Route {
  pattern: RegExp;
  screen: () => Promise<Screen>;
  /** Who may open it: `null` = anyone (login, join). */
  needs: 'none' | 'resident' | 'head';
  nav?: 'home' | 'lights' | 'head';
}

export class App {
  user: User | null = null;
  #routes: Route[];
  #root: HTMLElement;
  #cleanup: Cleanup | undefined;
  #renderSeq = 0;
  #toastTimer: number | undefined;
  /** Shown once on the home screen after joining: the username the invitation made. */
  notice: string | null = null;

  constructor(root: HTMLElement, routes: Route[]) {
    this.#root = root;
    this.#routes = routes;
    whenUnauthorized(() => this.sessionEnded());
  }

  async start(): Promise<void> {
    try {
      this.user = await api<User>('GET', '/api/auth/me');
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) this.toast(t('error.network'));
      this.user = null;
    }
    window.addEventListener('hashchange', () => void this.render());
    await this.render();
  }

  go(hash: string): void {
    if (location.hash === hash) void this.render();
    else location.hash = hash;
  }

  loggedIn(answer: LoginAnswer): void {
    setCsrfToken(answer.csrfToken);
    this.user = answer.user;
  }

  async logout(): Promise<void> {
    try {
      await api('POST', '/api/auth/logout');
    } catch {
      // The cookie is forgotten by the hub; if it cannot be reached, the session still ends here.
    }
    this.user = null;
    this.go('#/login');
  }

  sessionEnded(): void {
    if (!this.user) return;
    this.user = null;
    this.toast(t('error.sessionEnded'));
    this.go('#/login');
  }

  async switchLanguage(): Promise<void> {
    await setLanguage(lang() === 'vi' ? 'en' : 'vi');
    await this.render();
  }

  toast(message: string): void {
    const el = document.getElementById('toast');
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
    window.clearTimeout(this.#toastTimer);
    this.#toastTimer = window.setTimeout(() => {
      el.hidden = true;
    }, 6000);
  }

  async render(): Promise<void> {
    const seq = ++this.#renderSeq;
    this.#cleanup?.();
    this.#cleanup = undefined;
    const raw = location.hash.replace(/^#/, '') || '/';
    const [path = '/', search = ''] = raw.split('?');
    let route = this.#routes.find((r) => r.pattern.test(path));
    let params = route ? (route.pattern.exec(path)?.slice(1) ?? []) : [];
    if (!route) {
      route = this.#routes[0]!;
      params = [];
    }
    if (route.needs !== 'none' && !this.user) {
      this.go('#/login');
      return;
    }
    const screen = await route.screen();
    if (seq !== this.#renderSeq) return;
    const main = h('main', { id: 'main', tabindex: '-1' });
    const allowed = route.needs !== 'head' || hasRole(this.user, 'head');
    replace(this.#root, this.#header(), main, this.user ? this.#nav(route.nav) : null);
    if (!allowed) {
      replace(
        main,
        h(
          'section',
          { class: 'card forbidden', role: 'alert' },
          h('h1', null, t('forbidden.title')),
          h('p', null, t('forbidden.text')),
          h('a', { class: 'btn primary', href: '#/' }, t('nav.home')),
        ),
      );
      return;
    }
    const ctx: Ctx = {
      main,
      params: params.map((p) => decodeURIComponent(p)),
      query: new URLSearchParams(search),
      user: this.user,
      app: this,
    };
    const cleanup = await screen(ctx);
    if (seq !== this.#renderSeq) {
      cleanup?.();
      return;
    }
    this.#cleanup = cleanup ?? undefined;
    // Screen readers and keyboards start at the new screen's heading, not at the old focus.
    const heading = main.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
  }

  #header(): HTMLElement {
    return h(
      'header',
      { class: 'top' },
      h(
        'a',
        { class: 'brand', href: '#/' },
        h('img', { src: 'icons/icon.svg', alt: '', width: 32, height: 32 }),
        t('app.short'),
      ),
      h(
        'button',
        {
          class: 'btn ghost lang',
          type: 'button',
          lang: lang() === 'vi' ? 'en' : 'vi',
          onclick: () => void this.switchLanguage(),
        },
        icon('globe'),
        t('lang.other'),
      ),
      this.user
        ? h(
            'button',
            {
              class: 'btn ghost logout',
              type: 'button',
              'aria-label': t('nav.logout'),
              onclick: () => void this.logout(),
            },
            icon('logout'),
            h('span', null, t('nav.logout')),
          )
        : null,
    );
  }

  #nav(active: Route['nav']): HTMLElement {
    const item = (key: NonNullable<Route['nav']>, href: string, ico: Parameters<typeof icon>[0]) =>
      h(
        'a',
        { href, class: 'nav-item', 'aria-current': active === key ? 'page' : undefined },
        icon(ico),
        h('span', null, t(`nav.${key}`)),
      );
    return h(
      'nav',
      { class: 'bottom', 'aria-label': t('nav.label') },
      item('home', '#/', 'home'),
      item('lights', '#/lights', 'bulb'),
      hasRole(this.user, 'head') ? item('head', '#/head', 'people') : null,
    );
  }
}

export type { Route };
export { clear };
