/**
 * A day's recordings as a bar: recorded stretches, gaps, the moment on screen. Tap or drag to a
 * moment; keyboards use the arrows (it is an ARIA slider). Positions are set with CSSOM, which
 * the page's Content-Security-Policy allows where style attributes are not.
 */
import { h, replace } from './dom.js';
import { formatShortTime, formatTime } from './i18n.js';
import { MINUTE } from './time.js';

export interface Stretch {
  start: number;
  end: number;
}

export interface TimelineOptions {
  label: string;
  /** A moment was chosen (on release, or after keys settle). */
  onPick: (ms: number) => void;
  /** While dragging, before release. */
  onScrub?: (ms: number) => void;
}

const TICK_STEPS = [2 * MINUTE, 10 * MINUTE, 30 * MINUTE, 3 * 60 * MINUTE];

export class Timeline {
  readonly el: HTMLDivElement;
  readonly #track: HTMLDivElement;
  readonly #bars: HTMLDivElement;
  readonly #ticks: HTMLDivElement;
  readonly #head: HTMLDivElement;
  readonly #pick: HTMLDivElement;
  readonly #o: TimelineOptions;
  #start = 0;
  #end = 1;
  #stretches: Stretch[] = [];
  #selected = 0;
  #dragging = false;
  #keyTimer: number | undefined;

  constructor(options: TimelineOptions) {
    this.#o = options;
    this.#bars = h('div', { class: 'tl-bars' });
    this.#head = h('div', { class: 'tl-head', 'aria-hidden': 'true' });
    this.#pick = h('div', { class: 'tl-pick', 'aria-hidden': 'true' });
    this.#track = h('div', { class: 'tl-track' }, this.#bars, this.#pick, this.#head);
    this.#ticks = h('div', { class: 'tl-ticks', 'aria-hidden': 'true' });
    this.el = h(
      'div',
      { class: 'timeline', role: 'slider', tabindex: '0', 'aria-label': options.label },
      this.#track,
      this.#ticks,
    );
    this.el.addEventListener('pointerdown', (e) => this.#down(e));
    this.el.addEventListener('pointermove', (e) => this.#move(e));
    this.el.addEventListener('pointerup', (e) => this.#up(e));
    this.el.addEventListener('pointercancel', () => {
      this.#dragging = false;
    });
    this.el.addEventListener('keydown', (e) => this.#key(e));
  }

  get windowStart(): number {
    return this.#start;
  }
  get windowEnd(): number {
    return this.#end;
  }

  setWindow(start: number, end: number): void {
    this.#start = start;
    this.#end = end;
    this.el.setAttribute('aria-valuemin', String(start));
    this.el.setAttribute('aria-valuemax', String(end));
    this.el.dataset.start = new Date(start).toISOString();
    this.el.dataset.end = new Date(end).toISOString();
    this.#draw();
  }

  setStretches(stretches: Stretch[]): void {
    this.#stretches = stretches;
    this.#draw();
  }

  setSelected(ms: number): void {
    this.#selected = ms;
    this.el.setAttribute('aria-valuenow', String(ms));
    this.el.setAttribute('aria-valuetext', formatTime(ms));
    this.#place(this.#pick, ms);
  }

  setPlayhead(ms: number | undefined): void {
    this.#head.hidden = ms === undefined;
    if (ms !== undefined) this.#place(this.#head, ms);
  }

  #frac(ms: number): number {
    return Math.min(1, Math.max(0, (ms - this.#start) / (this.#end - this.#start)));
  }

  #place(el: HTMLElement, ms: number): void {
    el.hidden = ms < this.#start || ms > this.#end;
    el.style.left = `${(this.#frac(ms) * 100).toFixed(3)}%`;
  }

  #draw(): void {
    const bars = this.#stretches
      .filter((s) => s.end > this.#start && s.start < this.#end)
      .map((s) => {
        const bar = h('div', { class: 'tl-rec' });
        const left = this.#frac(s.start);
        bar.style.left = `${(left * 100).toFixed(3)}%`;
        bar.style.width = `${Math.max(0.4, (this.#frac(s.end) - left) * 100).toFixed(3)}%`;
        return bar;
      });
    replace(this.#bars, bars);
    const span = this.#end - this.#start;
    const step = TICK_STEPS.find((s) => span / s <= 6) ?? TICK_STEPS[TICK_STEPS.length - 1]!;
    const ticks: HTMLElement[] = [];
    for (let at = Math.ceil(this.#start / step) * step; at <= this.#end; at += step) {
      const tick = h('span', { class: 'tl-tick' }, formatShortTime(at));
      tick.style.left = `${(this.#frac(at) * 100).toFixed(3)}%`;
      ticks.push(tick);
    }
    replace(this.#ticks, ticks);
    this.setSelected(this.#selected);
  }

  #at(e: PointerEvent): number {
    const box = this.#track.getBoundingClientRect();
    const frac = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
    return Math.round(this.#start + frac * (this.#end - this.#start));
  }

  #down(e: PointerEvent): void {
    this.#dragging = true;
    this.el.setPointerCapture?.(e.pointerId);
    this.setSelected(this.#at(e));
    this.#o.onScrub?.(this.#selected);
  }

  #move(e: PointerEvent): void {
    if (!this.#dragging) return;
    this.setSelected(this.#at(e));
    this.#o.onScrub?.(this.#selected);
  }

  #up(e: PointerEvent): void {
    if (!this.#dragging) return;
    this.#dragging = false;
    this.setSelected(this.#at(e));
    this.#o.onPick(this.#selected);
  }

  #key(e: KeyboardEvent): void {
    const span = this.#end - this.#start;
    const small = Math.max(10_000, span / 100);
    const steps: Record<string, number> = {
      ArrowLeft: -small,
      ArrowDown: -small,
      ArrowRight: small,
      ArrowUp: small,
      PageDown: -span / 10,
      PageUp: span / 10,
    };
    let next: number | undefined;
    if (e.key in steps) next = this.#selected + steps[e.key]!;
    else if (e.key === 'Home') next = this.#start;
    else if (e.key === 'End') next = this.#end;
    if (next === undefined) return;
    e.preventDefault();
    this.setSelected(Math.min(this.#end, Math.max(this.#start, Math.round(next))));
    this.#o.onScrub?.(this.#selected);
    window.clearTimeout(this.#keyTimer);
    this.#keyTimer = window.setTimeout(() => this.#o.onPick(this.#selected), 500);
  }
}
