/**
 * Messages come from a catalogue (`i18n/vi.json`, `i18n/en.json`): no user-facing text lives in
 * the code. Vietnamese is the default; the choice is kept in localStorage. Times are shown in
 * the area's time zone whatever the phone's own setting.
 */
export type Lang = 'vi' | 'en';

export const TIME_ZONE = 'Asia/Ho_Chi_Minh';
const STORAGE_KEY = 'khu.lang';

let current: Lang = 'vi';
let messages: Record<string, string> = {};
const cache: Partial<Record<Lang, Record<string, string>>> = {};

export function lang(): Lang {
  return current;
}

export function storedLanguage(): Lang {
  try {
    return localStorage.getItem(STORAGE_KEY) === 'en' ? 'en' : 'vi';
  } catch {
    return 'vi';
  }
}

export async function setLanguage(next: Lang): Promise<void> {
  let catalogue = cache[next];
  if (!catalogue) {
    const res = await fetch(`i18n/${next}.json`, { credentials: 'same-origin' });
    if (!res.ok) throw new Error(`catalogue ${next}: ${res.status}`);
    catalogue = (await res.json()) as Record<string, string>;
    cache[next] = catalogue;
  }
  messages = catalogue;
  current = next;
  document.documentElement.lang = next;
  document.title = t('app.name');
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // Private mode: the choice lasts for this visit.
  }
}

/** `t('lights.count', { on: 2, all: 5 })`: a message with `{name}` placeholders filled in. */
export function t(key: string, vars?: Record<string, string | number>): string {
  const text = messages[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    vars[name] === undefined ? whole : String(vars[name]),
  );
}

const formats = new Map<string, Intl.DateTimeFormat>();
function format(kind: 'time' | 'short' | 'date' | 'dateTime'): Intl.DateTimeFormat {
  const key = `${current}:${kind}`;
  let f = formats.get(key);
  if (!f) {
    const options: Intl.DateTimeFormatOptions = { timeZone: TIME_ZONE, hour12: false };
    if (kind === 'time' || kind === 'dateTime')
      Object.assign(options, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    if (kind === 'short') Object.assign(options, { hour: '2-digit', minute: '2-digit' });
    if (kind === 'date' || kind === 'dateTime')
      Object.assign(options, { weekday: 'long', day: 'numeric', month: 'numeric', year: 'numeric' });
    f = new Intl.DateTimeFormat(current === 'vi' ? 'vi-VN' : 'en-GB', options);
    formats.set(key, f);
  }
  return f;
}

/** 19:42:10 in the area's time zone. */
export const formatTime = (d: Date | number): string => format('time').format(d);
/** 19:42 */
export const formatShortTime = (d: Date | number): string => format('short').format(d);
/** Thứ Năm, 26/11/2026 */
export const formatDate = (d: Date | number): string => format('date').format(d);
export const formatDateTime = (d: Date | number): string => format('dateTime').format(d);
