/** Sign up or log in; the session (token and profile) is kept in localStorage. */
import { HttpClient, type Session } from '../../src/client/index.ts';
import { h, messageOf } from './dom.ts';

const KEY = 'tremolo.session';

export function savedSession(now = Date.now()): Session | undefined {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Session | null;
    // a token about to expire would fail mid-use: ask for the password again instead
    return s && Date.parse(s.expiresAt) - now > 60_000 ? s : undefined;
  } catch {
    return undefined;
  }
}

export function forgetSession(): void {
  localStorage.removeItem(KEY);
}

export function authView(baseUrl: string, onSession: (s: Session) => void): HTMLElement {
  const handle = h('input', { name: 'handle', autocomplete: 'username', required: true, minlength: 3, maxlength: 24, placeholder: 'handle', 'aria-label': 'Handle' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, minlength: 8, placeholder: 'password (8+ characters)', 'aria-label': 'Password' });
  const error = h('p', { class: 'error', role: 'alert' });
  const submit = async (mode: 'login' | 'register') => {
    if (!form.reportValidity()) return;
    error.textContent = '';
    form.classList.add('busy');
    try {
      const http = new HttpClient(baseUrl);
      const s = mode === 'login' ? await http.login(handle.value.trim(), password.value) : await http.register(handle.value.trim(), password.value);
      localStorage.setItem(KEY, JSON.stringify(s));
      onSession(s);
    } catch (err) {
      error.textContent = messageOf(err);
    } finally {
      form.classList.remove('busy');
    }
  };
  const form = h(
    'form',
    { class: 'auth' },
    h('h1', { class: 'logo' }, 'tremolo'),
    h('p', { class: 'muted' }, 'Short videos, live likes and comments.'),
    handle,
    password,
    error,
    h('div', { class: 'row' }, h('button', { type: 'submit', name: 'login' }, 'Log in'), h('button', { type: 'button', name: 'register', class: 'secondary', onclick: () => void submit('register') }, 'Sign up')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void submit('login');
  });
  return h('div', { class: 'auth-page' }, form);
}
