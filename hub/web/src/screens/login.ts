import { ApiError, api, type LoginAnswer } from '../api.js';
import type { Screen } from '../app.js';
import { h } from '../dom.js';
import { t } from '../i18n.js';
import { describe, errorBox, field, passwordField, showError } from './forms.js';

export const loginScreen: Screen = ({ main, app }) => {
  const username = h('input', {
    name: 'username',
    autocomplete: 'username',
    autocapitalize: 'none',
    spellcheck: 'false',
    required: true,
  });
  const password = h('input', {
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const error = errorBox();
  const submit = h('button', { class: 'btn primary wide', type: 'submit' }, t('login.submit'));
  const form = h(
    'form',
    { class: 'card form', novalidate: true },
    field(t('login.username'), username),
    passwordField(t('login.password'), password, t('login.passwordHint')),
    error,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (!username.value.trim() || !password.value) {
      showError(error, t('login.missing'));
      return;
    }
    submit.disabled = true;
    try {
      const answer = await api<LoginAnswer>('POST', '/api/auth/login', {
        username: username.value.trim().toLowerCase(),
        password: password.value,
      });
      app.loggedIn(answer);
      app.go('#/');
    } catch (err) {
      showError(error, err instanceof ApiError && err.status === 401 ? t('login.wrong') : describe(err));
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  main.append(
    h('h1', null, t('login.title')),
    h('p', { class: 'lead' }, t('login.lead')),
    form,
    h('p', { class: 'hint' }, t('login.noAccount')),
  );
  return undefined;
};
