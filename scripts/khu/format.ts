/** Output for people (tables) and for scripts (`--json`). */

export interface Out {
  json: boolean;
  print(text?: string): void;
  /** Progress and notes: on stderr, so that stdout stays clean for --json and pipes. */
  note(text: string): void;
  data(value: unknown): void;
}

export function makeOut(json: boolean): Out {
  return {
    json,
    print: (text = '') => process.stdout.write(`${text}\n`),
    note: (text) => process.stderr.write(`${text}\n`),
    data: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}

/** Visible width: combining marks (Vietnamese tones) take no column. */
const width = (s: string) => [...s.normalize('NFC').replace(/\p{M}/gu, '')].length;

export function table(
  headers: string[],
  rows: Array<Array<string | number | boolean | null | undefined>>,
): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(width(h), ...cells.map((r) => width(r[i] ?? ''))));
  const line = (r: string[]) =>
    r
      .map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - width(c))))
      .join('  ')
      .trimEnd();
  if (rows.length === 0) return `${line(headers)}\n(none)`;
  return [line(headers), ...cells.map(line)].join('\n');
}

/** Local time for people ("2026-11-26 19:04"), in the box's time zone unless TZ says otherwise. */
export function localTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 || u === 0 ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}
