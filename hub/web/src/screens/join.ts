/**
 * Joining by invitation: the QR code opens `#/join/<code>`; the household chooses a password or
 * a 6-digit PIN and is logged in at once. Nothing else to type: no server address, no username.
 */
import { api, enc, type LoginAnswer } from '../api.js';
import type { Screen } from '../app.js';
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { describe, errorBox, field, passwordField, showError } from './forms.js';

interface Check {
  household: string;
  role: string;
  expiresAt: string;
}

export const joinScreen: Screen = async ({ main, params, app }) => {
  const code = params[0]!;
  const body = h('div', { class: 'stack' });
  main.append(h('h1', null, t('join.title')), body);
  let invite: Check;
  try {
    invite = await api<Check>('GET', `/api/invites/${enc(code)}/check`);
  } catch (err) {
    replace(
      body,
      h('p', { class: 'error', role: 'alert' }, describe(err)),
      h('a', { class: 'btn wide', href: '#/login' }, t('join.toLogin')),
    );
    return undefined;
  }

  let mode: 'pin' | 'password' = 'pin';
  const secret = h('input', { name: 'secret', autocomplete: 'new-password', required: true });
  const again = h('input', { name: 'again', autocomplete: 'new-password', required: true });
  const secretField = h('div');
  const againField = h('div');
  const pinButton = h('button', { type: 'button', class: 'btn choice' }, t('join.usePin'));
  const passwordButton = h('button', { type: 'button', class: 'btn choice' }, t('join.usePassword'));
  const setMode = (next: 'pin' | 'password') => {
    mode = next;
    pinButton.setAttribute('aria-pressed', String(mode === 'pin'));
    passwordButton.setAttribute('aria-pressed', String(mode === 'password'));
    for (const input of [secret, again]) {
      input.type = 'password';
      input.value = '';
      if (mode === 'pin') {
        input.setAttribute('inputmode', 'numeric');
        input.setAttribute('maxlength', '6');
        input.setAttribute('pattern', '[0-9]{6}');
      } else {
        input.removeAttribute('inputmode');
        input.removeAttribute('maxlength');
        input.removeAttribute('pattern');
      }
    }
    replace(
      secretField,
      passwordField(
        t(mode === 'pin' ? 'join.pin' : 'join.password'),
        secret,
        t(mode === 'pin' ? 'join.pinHint' : 'join.passwordHint'),
      ),
    );
    replace(againField, field(t('join.again'), again));
  };
  pinButton.addEventListener('click', () => setMode('pin'));
  passwordButton.addEventListener('click', () => setMode('password'));
  setMode('pin');

  const error = errorBox();
  const submit = h('button', { class: 'btn primary wide', type: 'submit' }, t('join.submit'));
  const form = h(
    'form',
    { class: 'card form', novalidate: true },
    h('div', { class: 'choices', role: 'group', 'aria-label': t('join.choose') }, pinButton, passwordButton),
    secretField,
    againField,
    error,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const value = secret.value;
    if (mode === 'pin' ? !/^\d{6}$/.test(value) : value.length < 8) {
      showError(error, t(mode === 'pin' ? 'join.pinHint' : 'join.passwordHint'));
      return;
    }
    if (value !== again.value) {
      showError(error, t('join.mismatch'));
      return;
    }
    submit.disabled = true;
    try {
      const answer = await api<LoginAnswer>('POST', `/api/invites/${enc(code)}/accept`, { password: value });
      app.loggedIn(answer);
      app.notice = t('join.welcome', { username: answer.user.username });
      app.go('#/');
    } catch (err) {
      showError(error, describe(err));
    } finally {
      submit.disabled = false;
    }
  });
  replace(body, h('p', { class: 'lead' }, t('join.for', { household: invite.household })), form);
  return undefined;
};
