/** The PROGRAM payload the hub sends to an edge agent: parsing, and what it says at an instant. */
import { describe, expect, it } from 'vitest';
import {
  encodeProgram,
  nextProgramInstant,
  type Program,
  parseProgram,
  programStateAt,
} from '../../hub/src/protocol/program.js';
import { sunTimes } from '../../hub/src/protocol/sun.js';

const DUSK_TO_DAWN = {
  version: 1,
  site: { latitude: 21.32, longitude: 105.29, timezone: '+07:00' },
  channels: [
    {
      channel: 1,
      rules: [
        { state: 'on', sun: 'sunset', offsetMin: -15 },
        { state: 'off', sun: 'sunrise', offsetMin: 15 },
      ],
      nightCut: { from: '23:00', to: '04:30' },
    },
    {
      channel: 2,
      rules: [
        { state: 'on', time: '18:30' },
        { state: 'off', time: '22:00', days: '0111110' },
      ],
    },
  ],
};
const at = (iso: string) => new Date(iso).getTime();

describe('parseProgram', () => {
  it('accepts the documented shape and round-trips it', () => {
    const program = parseProgram(JSON.stringify(DUSK_TO_DAWN));
    expect(program).toEqual(DUSK_TO_DAWN);
    expect(parseProgram(encodeProgram(program))).toEqual(program);
  });

  const withChannel = (patch: Record<string, unknown>) => ({
    ...DUSK_TO_DAWN,
    channels: [{ ...DUSK_TO_DAWN.channels[0], ...patch }],
  });
  const withRule = (rule: Record<string, unknown>) => withChannel({ rules: [rule] });

  it.each([
    ['', /the program is empty/],
    ['{"version":', /not valid JSON/],
    ['x'.repeat(17_000), /larger than 16384 bytes/],
    [[], /program must be a JSON object/],
    [{ ...DUSK_TO_DAWN, version: 2 }, /version must be 1 \(got 2\)/],
    [{ ...DUSK_TO_DAWN, extra: 1 }, /program\.extra is not a known field/],
    [{ ...DUSK_TO_DAWN, site: undefined }, /site must be an object/],
    [
      { ...DUSK_TO_DAWN, site: { ...DUSK_TO_DAWN.site, latitude: 91 } },
      /site\.latitude must be a number from -90 to 90/,
    ],
    [{ ...DUSK_TO_DAWN, site: { ...DUSK_TO_DAWN.site, longitude: '105' } }, /site\.longitude must be/],
    [
      { ...DUSK_TO_DAWN, site: { ...DUSK_TO_DAWN.site, timezone: 'Asia/Ho_Chi_Minh' } },
      /site\.timezone must be a UTC offset/,
    ],
    [{ ...DUSK_TO_DAWN, channels: [] }, /channels must be a list of 1 to 32 channels/],
    [withChannel({ channel: 0 }), /channels\[0\]\.channel must be an integer from 1 to 32 \(got 0\)/],
    [withChannel({ rules: [] }), /channels\[0\]\.rules must be a list of 1 to 32 rules/],
    [withRule({ state: 'dim', time: '18:00' }), /channels\[0\]\.rules\[0\]\.state must be "on" or "off"/],
    [withRule({ state: 'on' }), /channels\[0\]\.rules\[0\] needs "sun"/],
    [withRule({ state: 'on', sun: 'sunset', time: '18:00' }), /either sun or time, not both/],
    [withRule({ state: 'on', sun: 'moonrise' }), /\.sun must be sunrise, sunset, civilDawn or civilDusk/],
    [
      withRule({ state: 'on', sun: 'sunset', offsetMin: 720 }),
      /\.offsetMin must be an integer from -719 to 719/,
    ],
    [withRule({ state: 'on', sun: 'sunset', offsetMin: 1.5 }), /\.offsetMin must be an integer/],
    [withRule({ state: 'on', time: '24:00' }), /\.time must be a local time "hh:mm"/],
    [withRule({ state: 'on', time: '18:00', days: 'MTWTFSS' }), /\.days must be seven 0\/1 characters/],
    [withRule({ state: 'on', time: '18:00', days: '0000000' }), /\.days must be at least one day/],
    [withRule({ state: 'on', time: '18:00', cron: '* * *' }), /rules\[0\]\.cron is not a known field/],
    [withChannel({ nightCut: { from: '23:00' } }), /nightCut\.to must be a local time/],
    [withChannel({ nightCut: { from: '23:00', to: '23:00' } }), /nightCut\.to must be different/],
    [
      { ...DUSK_TO_DAWN, channels: [DUSK_TO_DAWN.channels[0], DUSK_TO_DAWN.channels[0]] },
      /channels\[1\]\.channel duplicates channels\[0\]\.channel \(1\)/,
    ],
  ])('rejects %j', (input, message) => {
    expect(() => parseProgram(typeof input === 'string' ? input : JSON.stringify(input))).toThrow(message);
  });
});

describe('running a program', () => {
  const program = parseProgram(DUSK_TO_DAWN) as Program;
  // Tết 2026, Tuesday 17 Feb, Lâm Thao: sunset 17:57:38, sunrise (18 Feb) 06:27:54 local.
  const sun17 = sunTimes({ year: 2026, month: 2, day: 17 }, 21.32, 105.29);

  it('is on from sunset − 15 min, off in the night cut, on again after it, off after sunrise + 15 min', () => {
    const onAt = sun17.sunset!.getTime() - 15 * 60_000;
    expect(programStateAt(program, 1, onAt - 1000)).toBe('off');
    expect(programStateAt(program, 1, onAt)).toBe('on');
    expect(programStateAt(program, 1, at('2026-02-17T22:59:59+07:00'))).toBe('on');
    expect(programStateAt(program, 1, at('2026-02-17T23:00:00+07:00'))).toBe('off');
    expect(programStateAt(program, 1, at('2026-02-18T04:30:00+07:00'))).toBe('on');
    expect(programStateAt(program, 1, at('2026-02-18T09:00:00+07:00'))).toBe('off');
    expect(programStateAt(program, 3, onAt)).toBeUndefined();
  });

  it('follows weekdays: channel 2 switches off at 22:00 on weekdays only', () => {
    expect(programStateAt(program, 2, at('2026-02-17T23:00:00+07:00'))).toBe('off'); // Tuesday
    expect(programStateAt(program, 2, at('2026-02-15T23:00:00+07:00'))).toBe('on'); // Sunday
  });

  it('gives the next instant at which anything may switch', () => {
    const onAt = sun17.sunset!.getTime() - 15 * 60_000;
    expect(nextProgramInstant(program, at('2026-02-17T12:00:00+07:00'))).toBe(onAt);
    expect(nextProgramInstant(program, onAt)).toBe(at('2026-02-17T18:30:00+07:00'));
    expect(nextProgramInstant(program, at('2026-02-17T22:30:00+07:00'))).toBe(
      at('2026-02-17T23:00:00+07:00'),
    );
  });

  it('accepts seconds in a fixed time', () => {
    const p = parseProgram({
      ...DUSK_TO_DAWN,
      channels: [{ channel: 1, rules: [{ state: 'on', time: '18:30:05' }] }],
    });
    expect(nextProgramInstant(p, at('2026-02-17T18:30:00+07:00'))).toBe(at('2026-02-17T18:30:05+07:00'));
  });
});
