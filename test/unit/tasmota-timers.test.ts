/**
 * Timer, Timers, Rule and Backlog payloads as Tasmota documents them
 * (https://tasmota.github.io/docs/Timers/, https://tasmota.github.io/docs/Rules/,
 * https://tasmota.github.io/docs/Commands/#management).
 */
import { describe, expect, it } from 'vitest';
import {
  applyTimerPayload,
  EMPTY_TIMER,
  FALLBACK_RULE,
  type FallbackProgramOptions,
  fallbackProgramBacklog,
  fallbackProgramCommands,
  formatRuleResult,
  formatTimer,
  formatTimerResult,
  formatTimersResult,
  MAX_BACKLOG_CHARS,
  parseBacklog,
  parseRuleSet,
  parseTimerResult,
  parseTimersPayload,
  parseTimezone,
  splitBacklog,
  timerMinuteOn,
  timezoneCommand,
} from '../../hub/src/protocol/tasmota-timers.js';

describe('Timer<n> payloads', () => {
  it('reads the documented examples', () => {
    // "Timer 1 will ENABLE output of POWER1 at exactly 2:23 every Tue/Wed and Sat"
    const t1 = applyTimerPayload(
      EMPTY_TIMER,
      '{"Enable":1,"Time":"02:23","Window":0,"Days":"--TW--S","Repeat":1,"Output":1,"Action":1}',
    );
    expect(t1).toMatchObject({ enable: true, mode: 0, minutes: 143, repeat: true, output: 1, action: 1 });
    expect(t1.days).toEqual([false, false, true, true, false, false, true]);
    // "… 2 hours and 23 minutes before sunset every day of the week"
    const t2 = applyTimerPayload(
      EMPTY_TIMER,
      '{"Enable":1,"Mode":2,"Time":"-2:23","Window":0,"Days":"11TW11S","Repeat":1,"Output":1,"Action":1}',
    );
    expect(t2).toMatchObject({ mode: 2, minutes: -143 });
    expect(formatTimer(t2)).toBe(
      '{"Enable":1,"Mode":2,"Time":"-02:23","Window":0,"Days":"1111111","Repeat":1,"Output":1,"Action":1}',
    );
  });

  it('keeps keys that are not given, and reads the older "Arm"', () => {
    const base = applyTimerPayload(
      EMPTY_TIMER,
      '{"Enable":1,"Time":"18:00","Days":"1111111","Output":2,"Action":1}',
    );
    const next = applyTimerPayload(base, '{"Arm":0}');
    expect(next).toMatchObject({ enable: false, minutes: 1080, output: 2, action: 1 });
  });

  it('answers {"Timer1":{…}} and reads it back', () => {
    const t = applyTimerPayload(
      EMPTY_TIMER,
      '{"Enable":1,"Mode":1,"Time":"00:15","Days":"0111110","Output":1,"Action":0}',
    );
    const result = formatTimerResult(1, t);
    expect(result).toBe(
      '{"Timer1":{"Enable":1,"Mode":1,"Time":"00:15","Window":0,"Days":"0111110","Repeat":0,"Output":1,"Action":0}}',
    );
    expect(parseTimerResult(result)).toEqual({ index: 1, timer: t });
    expect(parseTimerResult('{"Timer17":{}}')).toBeUndefined();
    expect(parseTimerResult('{"POWER":"ON"}')).toBeUndefined();
    expect(parseTimerResult('nope')).toBeUndefined();
  });

  it.each([
    ['nope', /not JSON/],
    ['[1]', /JSON object/],
    ['{"Enable":3}', /Enable must be 0 or 1/],
    ['{"Mode":3}', /Mode must be 0, 1 or 2/],
    ['{"Time":"24:00"}', /Time must be "hh:mm"/],
    ['{"Time":"-01:00"}', /Time must be "hh:mm"/],
    ['{"Mode":2,"Time":"12:00"}', /offset/],
    ['{"Window":16}', /Window must be an integer from 0 to 15/],
    ['{"Days":"111"}', /Days must be seven characters/],
    ['{"Output":0}', /Output must be an integer from 1 to 16/],
    ['{"Action":4}', /Action must be 0, 1, 2 or 3/],
  ])('rejects %s', (payload, message) => {
    expect(() => applyTimerPayload(EMPTY_TIMER, payload)).toThrow(message);
  });

  it('fires at sunset + offset on the selected days only', () => {
    const site = { latitude: 21.32, longitude: 105.29, timezoneMin: 420 };
    const t = applyTimerPayload(
      EMPTY_TIMER,
      '{"Enable":1,"Mode":2,"Time":"-00:15","Days":"0111110","Repeat":1,"Action":1}',
    );
    // Tuesday 17 Feb 2026 (Tết): sunset 17:57:38 local → 17:58 − 15 min = 17:43.
    expect(timerMinuteOn(t, { year: 2026, month: 2, day: 17 }, site)).toBe(17 * 60 + 43);
    // Sunday: not selected.
    expect(timerMinuteOn(t, { year: 2026, month: 2, day: 15 }, site)).toBeUndefined();
    expect(timerMinuteOn({ ...t, enable: false }, { year: 2026, month: 2, day: 17 }, site)).toBeUndefined();
  });
});

describe('Timers, Timezone, Rules, Backlog', () => {
  it('reads Timers payloads and answers {"Timers":"ON"|"OFF"}', () => {
    expect(['0', '1', '2', '', 'on', 'x'].map(parseTimersPayload)).toEqual([
      'off',
      'on',
      'toggle',
      'query',
      'on',
      undefined,
    ]);
    expect(formatTimersResult(false)).toBe('{"Timers":"OFF"}');
  });

  it('reads Timezone as Tasmota takes it', () => {
    expect(['7', '+07:00', '-3:30', '+5:45', '15', '7:60', 'x'].map(parseTimezone)).toEqual([
      420,
      420,
      -210,
      345,
      undefined,
      undefined,
      undefined,
    ]);
    expect(timezoneCommand(420)).toBe('7');
    expect(timezoneCommand(330)).toBe('+05:30');
  });

  it('parses the fallback rule and answers like Tasmota', () => {
    expect(parseRuleSet(FALLBACK_RULE)).toEqual([
      { trigger: 'Mqtt#Disconnected', command: 'Timers 1' },
      { trigger: 'Mqtt#Connected', command: 'Timers 0' },
    ]);
    expect(parseRuleSet('on System#Boot do Backlog Power1 1; Power2 0 endon')).toEqual([
      { trigger: 'System#Boot', command: 'Backlog Power1 1; Power2 0' },
    ]);
    expect(parseRuleSet('ON x DO')).toBeUndefined();
    expect(parseRuleSet('Timers 1')).toBeUndefined();
    expect(
      JSON.parse(
        formatRuleResult(1, { enabled: true, once: false, stopOnError: false, text: FALLBACK_RULE }),
      ),
    ).toEqual({
      Rule1: { State: 'ON', Once: 'OFF', StopOnError: 'OFF', Length: 74, Free: 437, Rules: FALLBACK_RULE },
    });
  });

  it('splits a Backlog on ";" and keeps batches within 30 commands and the length limit', () => {
    expect(parseBacklog('Power1 on; Timers 0;; Rule1 1')).toEqual([
      { command: 'POWER1', payload: 'on' },
      { command: 'TIMERS', payload: '0' },
      { command: 'RULE1', payload: '1' },
    ]);
    const many = Array.from({ length: 65 }, (_, i) => `Power${(i % 8) + 1} 1`);
    const batches = splitBacklog(many);
    expect(batches.map((b) => parseBacklog(b).length)).toEqual([30, 30, 5]);
    expect(() => splitBacklog(['Timer1 {"a":1}; Timers 1'])).toThrow(/cannot contain ';'/);
  });
});

describe('fallbackProgramBacklog', () => {
  const options: FallbackProgramOptions = {
    latitude: 21.32,
    longitude: 105.29,
    timezoneHours: 7,
    on: { mode: 'sunset', offsetMin: -15 },
    off: { mode: 'sunrise', offsetMin: 15 },
    channels: 2,
  };

  it('sets the site, disarms, writes one timer per switch and channel, clears the rest, and arms by rule', () => {
    const commands = fallbackProgramCommands(options);
    expect(commands.slice(0, 4)).toEqual([
      'Latitude 21.320000',
      'Longitude 105.290000',
      'Timezone 7',
      'Timers 0',
    ]);
    expect(commands[4]).toBe(
      'Timer1 {"Enable":1,"Mode":2,"Time":"-00:15","Window":0,"Days":"1111111","Repeat":1,"Output":1,"Action":1}',
    );
    expect(commands[5]).toBe(
      'Timer2 {"Enable":1,"Mode":1,"Time":"00:15","Window":0,"Days":"1111111","Repeat":1,"Output":1,"Action":0}',
    );
    expect(commands[7]).toContain('"Output":2,"Action":0');
    expect(commands[8]).toBe('Timer5 0');
    expect(commands.slice(-2)).toEqual([`Rule1 ${FALLBACK_RULE}`, 'Rule1 1']);
    const batches = fallbackProgramBacklog(options);
    expect(batches.length).toBeGreaterThan(1);
    for (const b of batches) expect(b.length).toBeLessThanOrEqual(MAX_BACKLOG_CHARS);
    expect(batches.flatMap(parseBacklog)).toHaveLength(commands.length);
  });

  it('adds the night cut as an off and an on timer, and the clock when asked', () => {
    const commands = fallbackProgramCommands({
      ...options,
      channels: 1,
      nightCut: { from: '23:00', to: '04:30' },
      epochSec: 1_790_000_000,
    });
    expect(commands).toContain('Time 1790000000');
    expect(commands.find((c) => c.startsWith('Timer3 '))).toContain('"Mode":0,"Time":"23:00"');
    expect(commands.find((c) => c.startsWith('Timer3 '))).toContain('"Action":0');
    expect(commands.find((c) => c.startsWith('Timer4 '))).toContain('"Time":"04:30"');
    expect(commands.find((c) => c.startsWith('Timer4 '))).toContain('"Action":1');
  });

  it.each([
    [{ channels: 9 }, /channels must be an integer from 1 to 8/],
    [{ channels: 5, nightCut: { from: '23:00', to: '04:30' } }, /from 1 to 4: Tasmota has 16 timers/],
    [{ latitude: 95 }, /latitude must be from -90 to 90/],
    [{ timezoneHours: 7.1 }, /timezoneHours/],
    [{ on: { mode: 'sunset', offsetMin: 800 } }, /offsetMin an integer from -719 to 719/],
    [{ on: { mode: 'noon', offsetMin: 0 } }, /mode must be sunrise, sunset or clock/],
    [{ off: { mode: 'clock', offsetMin: 1440 } }, /clock minutes must be an integer from 0 to 1439/],
    // The on timer at the end of a cut would light the street by day once sunrise is earlier.
    [
      { nightCut: { from: '23:00', to: '05:45' } },
      /nightCut\.to \(05:45\) must come before the earliest morning switch-off/,
    ],
    [
      { nightCut: { from: '18:00', to: '04:30' } },
      /nightCut\.from \(18:00\) must come after the latest evening switch-on/,
    ],
    [{ nightCut: { from: '23:00', to: '4h' } }, /nightCut\.to must be "hh:mm"/],
    [{ epochSec: 5 }, /epochSec must be whole seconds after 2016/],
  ])('rejects %j', (patch, message) => {
    expect(() =>
      fallbackProgramCommands({ ...options, ...(patch as Partial<FallbackProgramOptions>) }),
    ).toThrow(message);
  });
});
