/** The schedule engine with fake clocks: calendar precedence, overrides, preview instants, validation. */
import { describe, expect, it } from 'vitest';
import { KhuError } from '../../hub/src/core/errors.js';
import { parseProgram } from '../../hub/src/protocol/program.js';
import { sunTimes } from '../../hub/src/protocol/sun.js';
import { analyseCalendarRule } from '../../hub/src/schedules/calendar-check.js';
import { parseCron } from '../../hub/src/schedules/cron.js';
import { ScheduleEngine } from '../../hub/src/schedules/engine.js';
import { edgeFallback, tasmotaFallback } from '../../hub/src/schedules/fallback.js';
import {
  type CalendarRule,
  compileCalendarRule,
  compileProgram,
  type OverrideRecord,
  type ProgramRecord,
} from '../../hub/src/schedules/model.js';
import { parseDay, SiteClock } from '../../hub/src/schedules/site-clock.js';

const SITE = { latitude: 21.32, longitude: 105.29, clock: new SiteClock('Asia/Ho_Chi_Minh') };
/** A local time in Việt Nam (UTC+7) as an instant. */
const vn = (text: string) => Date.parse(`${text}+07:00`);
const iso = (ms: number) => new Date(ms).toISOString();

function prog(id: string, rules: ProgramRecord['rules'], nightCut: ProgramRecord['nightCut'] = null) {
  return compileProgram({ id, name: id, rules, nightCut, createdAt: '', updatedAt: '' });
}
const dusk = prog(
  'dusk',
  [
    { state: 'on', sun: 'sunset', offsetMin: -15 },
    { state: 'off', sun: 'sunrise', offsetMin: 15 },
  ],
  { from: '23:00', to: '04:30' },
);
const festival = prog('festival', [
  { state: 'on', cron: '0 18 * * *' },
  { state: 'off', sun: 'sunrise', offsetMin: 0 },
]);
const weekend = prog('weekend', [
  { state: 'on', sun: 'civilDusk', offsetMin: 0 },
  { state: 'off', cron: '30 1 * * *' },
]);

function rule(id: string, program: string, extra: Partial<CalendarRule>): CalendarRule {
  return {
    id,
    name: id,
    program,
    dates: null,
    from: null,
    to: null,
    weekdays: null,
    zones: [],
    lights: [],
    ...extra,
  };
}

function engine(): ScheduleEngine {
  const e = new ScheduleEngine(SITE);
  e.setPrograms([dusk, festival, weekend]);
  e.setDefaults({ program: 'dusk', zones: {}, lights: {} });
  return e;
}

const A = { light: 'a1', zone: 'pho-a' };
const sun = (y: number, m: number, d: number) => sunTimes({ year: y, month: m, day: d }, 21.32, 105.29);

describe('schedule engine', () => {
  it('lists the instants of a dusk-to-dawn program with a night cut, sun times computed locally', () => {
    const e = engine();
    const from = vn('2026-11-26T12:00:00');
    const changes = e.changes(A, from, from + 86_400_000);
    const s26 = sun(2026, 11, 26);
    const s27 = sun(2026, 11, 27);
    expect(changes.map((c) => [iso(c.at), c.state, c.actor.name])).toEqual([
      [iso(s26.sunset!.getTime() - 15 * 60_000), 'on', 'dusk'],
      [iso(vn('2026-11-26T23:00:00')), 'off', 'dusk'],
      [iso(vn('2026-11-27T04:30:00')), 'on', 'dusk'],
      [iso(s27.sunrise!.getTime() + 15 * 60_000), 'off', 'dusk'],
    ]);
    // Lâm Thao, late November: sunset about 17:14, sunrise about 06:20 local.
    expect(new Date(s26.sunset!.getTime() + 7 * 3_600_000).toISOString().slice(11, 16)).toMatch(/^17:1\d$/);
    expect(e.programStateAt(A, vn('2026-11-26T20:00:00'))?.state).toBe('on');
    expect(e.programStateAt(A, vn('2026-11-27T01:00:00'))?.state).toBe('off');
    expect(e.programStateAt(A, vn('2026-11-27T10:00:00'))?.state).toBe('off');
  });

  it('mixes cron and sun rules; the calendar chooses per night, first match wins, then defaults', () => {
    const e = engine();
    e.setCalendar(
      [
        rule('tet', 'festival', { from: '2027-02-05', to: '2027-02-10' }),
        rule('weekends', 'weekend', { weekdays: [6] }),
        rule('pho-b-only', 'festival', { weekdays: [1], zones: ['pho-b'] }),
      ].map(compileCalendarRule),
    );
    e.setDefaults({ program: 'dusk', zones: {}, lights: { a9: 'festival' } });
    const at = (d: string) => e.programFor(A, parseDay(d)!);
    expect(at('2027-02-06')).toMatchObject({
      program: { record: { id: 'festival' } },
      source: 'calendar:tet',
    }); // a Saturday in Tết
    expect(at('2027-02-13')).toMatchObject({
      program: { record: { id: 'weekend' } },
      source: 'calendar:weekends',
    });
    expect(at('2027-02-15')).toMatchObject({ program: { record: { id: 'dusk' } }, source: 'default' }); // Monday, not pho-b
    expect(e.programFor({ light: 'b1', zone: 'pho-b' }, parseDay('2027-02-15')!)?.source).toBe(
      'calendar:pho-b-only',
    );
    expect(e.programFor({ light: 'a9', zone: 'pho-a' }, parseDay('2027-02-15')!)?.source).toBe(
      'default:light',
    );

    // A Tết night: on at 18:00 (cron), off at sunrise; no night cut. The date names the night.
    const changes = e.changes(A, vn('2027-02-06T12:00:00'), vn('2027-02-07T12:00:00'));
    expect(changes.map((c) => [iso(c.at), c.state])).toEqual([
      [iso(vn('2027-02-06T18:00:00')), 'on'],
      [iso(sun(2027, 2, 7).sunrise!.getTime()), 'off'],
    ]);
    // Saturday 2027-02-13 (weekend program): on at civil dusk, off at 01:30 on Sunday morning.
    const sat = e.changes(A, vn('2027-02-13T12:00:00'), vn('2027-02-14T12:00:00'));
    expect(sat.map((c) => [iso(c.at), c.state])).toEqual([
      [iso(sun(2027, 2, 13).civilDusk!.getTime()), 'on'],
      [iso(vn('2027-02-14T01:30:00')), 'off'],
    ]);
  });

  it('an override wins while it lasts; after its end the program takes over', () => {
    const e = engine();
    const o: OverrideRecord = {
      id: 7,
      zone: 'pho-a',
      light: null,
      state: 'on',
      until: iso(vn('2026-11-27T00:30:00')),
      kind: 'override',
      by: 'user:head',
      note: '',
      createdAt: iso(vn('2026-11-26T20:00:00')),
    };
    e.setOverrides([o]);
    expect(e.desiredAt(A, vn('2026-11-26T23:30:00'))).toMatchObject({
      state: 'on',
      actor: { kind: 'override', name: '7' },
    });
    expect(e.desiredAt(A, vn('2026-11-27T00:30:00'))).toMatchObject({
      state: 'off',
      actor: { kind: 'program', name: 'dusk' },
    });
    expect(e.desiredAt({ light: 'b1', zone: 'pho-b' }, vn('2026-11-26T23:30:00'))?.state).toBe('off');
    const changes = e.changes(A, vn('2026-11-26T19:00:00'), vn('2026-11-27T05:00:00'));
    expect(changes.map((c) => [iso(c.at), c.state, `${c.actor.kind}:${c.actor.name}`])).toEqual([
      [iso(vn('2026-11-27T00:30:00')), 'off', 'program:dusk'],
      [iso(vn('2026-11-27T04:30:00')), 'on', 'program:dusk'],
    ]);
    // A later override for the light itself wins over the zone's.
    e.setOverrides([
      o,
      { ...o, id: 8, zone: null, light: 'a1', state: 'off', createdAt: iso(vn('2026-11-26T21:00:00')) },
    ]);
    expect(e.desiredAt(A, vn('2026-11-26T22:00:00'))?.state).toBe('off');
    expect(e.nextInstantAfter(vn('2026-11-26T23:59:00'))).toBe(vn('2026-11-27T00:30:00'));
  });

  it('leaves alone a light with no program', () => {
    const e = new ScheduleEngine(SITE);
    e.setPrograms([dusk]);
    expect(e.desiredAt(A, vn('2026-11-26T20:00:00'))).toBeUndefined();
  });
});

describe('schedule validation', () => {
  const bad = (fn: () => unknown, message: RegExp) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(KhuError);
      expect((err as KhuError).code).toBe('KHU_BAD_REQUEST');
      expect((err as Error).message).toMatch(message);
      return;
    }
    throw new Error('expected a refusal');
  };
  it('refuses bad programs, naming the field', () => {
    bad(() => prog('x', [{ state: 'on', cron: '0 25 * * *' }]), /rules\[0\]\.cron .*25/);
    bad(() => prog('x', [{ state: 'on', cron: '0 18 L * *' }]), /not supported/);
    bad(() => prog('x', [{ state: 'on', cron: '18 * *' }]), /5 fields/);
    bad(() => prog('x', [{ state: 'on', sun: 'sunset', offsetMin: -181 }]), /offsetMin .*-180 to 180/);
    bad(() => prog('x', [{ state: 'on', sun: 'sunset', offsetMin: 1.5 }]), /offsetMin/);
    bad(() => prog('x', [{ state: 'on', sun: 'dusk' as 'sunset', offsetMin: 0 }]), /sun must be/);
    bad(() => prog('x', [{ state: 'maybe' as 'on', sun: 'sunset', offsetMin: 0 }]), /state/);
    bad(() => prog('x', []), /rules must be/);
    bad(
      () => prog('x', [{ state: 'on', sun: 'sunset', offsetMin: 0 }], { from: '04:00', to: '23:00' }),
      /within one night/,
    );
    bad(
      () => prog('x', [{ state: 'on', sun: 'sunset', offsetMin: 0 }], { from: '23:00', to: '4:30' }),
      /nightCut.to/,
    );
    expect(parseCron('0 30 5 * * 1-5').perDay).toBe(1);
  });

  it('refuses bad calendar rules, and reports overlaps or a rule that never applies', () => {
    bad(() => compileCalendarRule(rule('r', 'p', { dates: ['2027-13-01'] })), /dates\[0\]/);
    bad(
      () => compileCalendarRule(rule('r', 'p', { dates: ['2027-01-01'], weekdays: [1] })),
      /cannot be combined/,
    );
    bad(() => compileCalendarRule(rule('r', 'p', { from: '2027-02-01', to: '2027-01-01' })), /before from/);
    bad(() => compileCalendarRule(rule('r', 'p', { weekdays: [1, 1] })), /distinct/);
    bad(() => compileCalendarRule(rule('r', 'p', {})), /needs/);
    const zoneOf = new Map([
      ['a1', 'pho-a'],
      ['b1', 'pho-b'],
    ]);
    const today = parseDay('2026-12-01')!;
    const rules = [
      rule('tet', 'festival', { from: '2027-02-05', to: '2027-02-10' }),
      rule('feb', 'weekend', { from: '2027-02-01', to: '2027-02-28', zones: ['pho-a'] }),
    ].map(compileCalendarRule);
    expect(analyseCalendarRule(rules, 1, today, zoneOf)).toEqual([
      { rule: 'tet', nights: 6, first: '2027-02-05', last: '2027-02-10', wins: 'tet' },
    ]);
    const shadowed = [
      rules[0]!,
      compileCalendarRule(rule('eve', 'dusk', { dates: ['2027-02-06'], zones: ['pho-b'] })),
    ];
    expect(() => analyseCalendarRule(shadowed, 1, today, zoneOf)).toThrow(/eve would never apply/);
  });
});

describe('fallback programs for devices', () => {
  it('a Tasmota relay gets sunset/sunrise timers, the cut, the rule and its clock', () => {
    const now = vn('2026-11-26T10:00:00');
    const built = tasmotaFallback(
      SITE,
      [1, 2].map((channel) => ({ channel, program: dusk })),
      now,
    )!;
    const all = built.payloads.join('; ');
    expect(all).toContain('Latitude 21.320000; Longitude 105.290000; Timezone 7; Time ');
    expect(all).toContain('Timer1 {"Enable":1,"Mode":2,"Time":"-00:15"');
    expect(all).toContain('Timer2 {"Enable":1,"Mode":1,"Time":"00:15"');
    expect(all).toContain('Rule1 ON Mqtt#Disconnected DO Timers 1 ENDON ON Mqtt#Connected DO Timers 0 ENDON');
    // The hash ignores the clock: the same program later needs no new push.
    expect(
      tasmotaFallback(
        SITE,
        [1, 2].map((channel) => ({ channel, program: dusk })),
        now + 3_600_000,
      )!.hash,
    ).toBe(built.hash);
    // Different programs per channel: each channel's own timers.
    const mixed = tasmotaFallback(
      SITE,
      [
        { channel: 1, program: dusk },
        { channel: 2, program: festival },
      ],
      now,
    )!;
    expect(mixed.payloads.join('; ')).toMatch(
      /Timer5 \{"Enable":1,"Mode":0,"Time":"18:00".*"Output":2,"Action":1\}/,
    );
    expect(tasmotaFallback(SITE, [{ channel: 1, program: undefined }], now)).toBeUndefined();
  });

  it('an edge agent gets a PROGRAM it accepts', () => {
    const built = edgeFallback(
      SITE,
      [
        { channel: 1, program: weekend },
        { channel: 2, program: dusk },
      ],
      vn('2026-11-26T10:00:00'),
    )!;
    const p = parseProgram(built.payloads[0]!);
    expect(p.site).toEqual({ latitude: 21.32, longitude: 105.29, timezone: '+07:00' });
    expect(p.channels[0]!.rules).toEqual([
      { state: 'on', sun: 'civilDusk', offsetMin: 0 },
      { state: 'off', time: '01:30' },
    ]);
    expect(p.channels[1]!.nightCut).toEqual({ from: '23:00', to: '04:30' });
  });
});
