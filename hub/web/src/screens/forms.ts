/** Form pieces shared by the login and join screens: labelled fields, errors read aloud. */
import { ApiError } from '../api.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';

let fieldSeq = 0;

export function field(
  label: string,
  input: HTMLInputElement | HTMLSelectElement,
  hint?: string,
): HTMLDivElement {
  const id = input.id || `f${++fieldSeq}`;
  input.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) input.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

/** A password input with a big "show" toggle: typing blind is hard for people new to phones. */
export function passwordField(label: string, input: HTMLInputElement, hint?: string): HTMLDivElement {
  const wrap = field(label, input, hint);
  const toggle = h(
    'button',
    { type: 'button', class: 'btn ghost reveal', 'aria-pressed': 'false' },
    t('form.show'),
  );
  toggle.addEventListener('click', () => {
    const shown = input.type === 'text';
    input.type = shown ? 'password' : 'text';
    toggle.setAttribute('aria-pressed', String(!shown));
    toggle.textContent = t(shown ? 'form.show' : 'form.hide');
  });
  wrap.appendChild(toggle);
  return wrap;
}

export function errorBox(): HTMLParagraphElement {
  return h('p', { class: 'error', role: 'alert', hidden: true });
}

export function showError(box: HTMLElement, message: string): void {
  box.textContent = message;
  box.hidden = false;
}

/** A plain sentence for any error of the hub, in the reader's language. */
export function describe(err: unknown): string {
  if (!(err instanceof ApiError)) return t('error.unknown');
  if (err.status === 0) return t('error.network');
  if (err.code === 'KHU_RATE_LIMITED') return t('error.rateLimited', { sec: err.retryAfterSec ?? 60 });
  const known = t(`error.${err.code}`);
  if (known !== `error.${err.code}`) return known;
  if (err.status === 403) return t('error.KHU_FORBIDDEN');
  if (err.status >= 500) return t('error.server');
  return t('error.unknown');
}
