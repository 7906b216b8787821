/**
 * The Tasmota wire contract, against payloads as Tasmota documents and sends them
 * (https://tasmota.github.io/docs/MQTT/, https://tasmota.github.io/docs/Commands/#power).
 */
import { describe, expect, it } from 'vitest';
import {
  encodePowerCommand,
  encodePowerState,
  isDeviceTopic,
  parsePowerCommand,
  parsePowerKey,
  parsePowerObject,
  parsePowerState,
  parseTopic,
  powerKey,
  topics,
} from '../../hub/src/protocol/tasmota.js';

const asObject = (m: Map<number, string> | undefined) => (m ? Object.fromEntries(m) : m);

// A full `tele/<t>/STATE` of a 2-relay Tasmota 14 device, as it sends it every TelePeriod.
const TELE_STATE =
  '{"Time":"2026-11-26T14:00:00","Uptime":"0T00:15:00","UptimeSec":900,"Heap":25,"SleepMode":"Dynamic",' +
  '"Sleep":50,"LoadAvg":19,"MqttCount":1,"POWER1":"ON","POWER2":"OFF","Wifi":{"AP":1,"SSId":"khu",' +
  '"BSSId":"AA:BB:CC:DD:EE:FF","Channel":6,"Mode":"11n","RSSI":80,"Signal":-60,"LinkCount":1,"Downtime":"0T00:00:03"}}';

describe('parsePowerObject (stat/<t>/RESULT, tele/<t>/STATE)', () => {
  it('reads a single relay result', () => {
    expect(asObject(parsePowerObject('{"POWER":"ON"}'))).toEqual({ 1: 'on' });
    expect(asObject(parsePowerObject('{"POWER":"OFF"}'))).toEqual({ 1: 'off' });
  });

  it('reads each channel of a multi-relay result', () => {
    expect(asObject(parsePowerObject('{"POWER1":"OFF","POWER2":"ON"}'))).toEqual({ 1: 'off', 2: 'on' });
  });

  it('reads the channels of a full tele STATE and ignores every other key', () => {
    expect(asObject(parsePowerObject(TELE_STATE))).toEqual({ 1: 'on', 2: 'off' });
  });

  it('reads 1/0 states (SetOption26 style)', () => {
    expect(asObject(parsePowerObject('{"POWER1":1,"POWER2":0}'))).toEqual({ 1: 'on', 2: 'off' });
  });

  it('takes a report with a POWER value that is not a state as malformed as a whole', () => {
    expect(parsePowerObject('{"POWER1":"ON","POWER3":"BLINK"}')).toBeUndefined();
    expect(parsePowerObject('{"POWER":null}')).toBeUndefined();
    expect(parsePowerObject('{"POWER":"BANANA"}')).toBeUndefined();
  });

  it('answers an empty map for a JSON object without power keys (e.g. a STATUS reply)', () => {
    expect(asObject(parsePowerObject('{"Dimmer":50}'))).toEqual({});
    expect(asObject(parsePowerObject('{}'))).toEqual({});
  });

  it('ignores channels outside 1..32', () => {
    expect(asObject(parsePowerObject('{"POWER33":"ON","POWER0":"ON","POWER32":"ON"}'))).toEqual({ 32: 'on' });
  });

  it('answers undefined for anything that is not a JSON object', () => {
    for (const payload of [
      'ON',
      '',
      '{"POWER":',
      '["POWER","ON"]',
      '[{"POWER":"ON"}]',
      'null',
      '"ON"',
      '1',
      'true',
    ]) {
      expect(parsePowerObject(payload), payload).toBeUndefined();
    }
  });
});

describe('parsePowerKey', () => {
  it('maps POWER to channel 1 and POWERn to n for n in 1..32', () => {
    expect(parsePowerKey('POWER')).toBe(1);
    expect(parsePowerKey('POWER1')).toBe(1);
    expect(parsePowerKey('POWER2')).toBe(2);
    expect(parsePowerKey('POWER32')).toBe(32);
  });

  it('refuses POWER0, POWER33, leading zeros and other commands', () => {
    for (const key of [
      'POWER0',
      'POWER33',
      'POWER01',
      'POWER100',
      'POWER-1',
      'POWERX',
      'POWER 1',
      'Dimmer',
      'RESULT',
      '',
    ]) {
      expect(parsePowerKey(key), key).toBeUndefined();
    }
  });
});

describe('parsePowerCommand (cmnd/<t>/POWER payloads a device accepts)', () => {
  it.each([
    ['ON', 'on'],
    ['on', 'on'],
    ['1', 'on'],
    ['true', 'on'],
    ['OFF', 'off'],
    ['0', 'off'],
    ['false', 'off'],
    ['TOGGLE', 'toggle'],
    ['2', 'toggle'],
    ['', 'query'],
    ['?', 'query'],
    ['  ON \n', 'on'],
  ])('%j → %s', (payload, expected) => {
    expect(parsePowerCommand(payload)).toBe(expected);
  });

  it.each(['BANANA', '3', '4', 'blink', 'ONN', '{"POWER":"ON"}'])('refuses %j', (payload) => {
    expect(parsePowerCommand(payload)).toBeUndefined();
  });
});

describe('parsePowerState (reported states)', () => {
  it('reads ON/OFF and 1/0, as strings or numbers', () => {
    expect(parsePowerState('ON')).toBe('on');
    expect(parsePowerState('OFF')).toBe('off');
    expect(parsePowerState('on')).toBe('on');
    expect(parsePowerState('1')).toBe('on');
    expect(parsePowerState(0)).toBe('off');
    expect(parsePowerState(1)).toBe('on');
  });

  it('refuses everything else', () => {
    for (const v of ['BANANA', '', '2', 2, true, false, null, undefined, {}, ['ON']]) {
      expect(parsePowerState(v), JSON.stringify(v)).toBeUndefined();
    }
  });
});

describe('encoding', () => {
  it('sends ON/OFF/TOGGLE and an empty payload to ask for the state', () => {
    expect(encodePowerCommand('on')).toBe('ON');
    expect(encodePowerCommand('off')).toBe('OFF');
    expect(encodePowerCommand('toggle')).toBe('TOGGLE');
    expect(encodePowerCommand('query')).toBe('');
    expect(encodePowerState('on')).toBe('ON');
    expect(encodePowerState('off')).toBe('OFF');
  });

  it('every encoded command parses back to itself', () => {
    for (const c of ['on', 'off', 'toggle', 'query'] as const)
      expect(parsePowerCommand(encodePowerCommand(c))).toBe(c);
  });

  it('names channel 1 of a single relay POWER and numbers the channels of multi-relay devices', () => {
    expect(powerKey(1, true)).toBe('POWER');
    expect(powerKey(1, false)).toBe('POWER1');
    expect(powerKey(2, false)).toBe('POWER2');
    expect(topics.power('den-1', 1, true)).toBe('cmnd/den-1/POWER');
    expect(topics.power('tu-2', 3, false)).toBe('cmnd/tu-2/POWER3');
    expect(topics.statPower('tu-2', 2, false)).toBe('stat/tu-2/POWER2');
    expect(topics.result('den-1')).toBe('stat/den-1/RESULT');
    expect(topics.lwt('den-1')).toBe('tele/den-1/LWT');
    expect(topics.state('den-1')).toBe('tele/den-1/STATE');
    expect(topics.commandFilter('den-1')).toBe('cmnd/den-1/#');
  });
});

describe('parseTopic', () => {
  it('splits <prefix>/<device>/<command>', () => {
    expect(parseTopic('stat/den_1/RESULT')).toEqual({ prefix: 'stat', device: 'den_1', command: 'RESULT' });
    expect(parseTopic('tele/den-1/LWT')).toEqual({ prefix: 'tele', device: 'den-1', command: 'LWT' });
    expect(parseTopic('cmnd/DVES_A1B2C3/POWER2')).toEqual({
      prefix: 'cmnd',
      device: 'DVES_A1B2C3',
      command: 'POWER2',
    });
  });

  it.each([
    [''],
    ['stat'],
    ['stat/den1'],
    ['stat/den1/'],
    ['stat//RESULT'],
    ['stat/den1/RESULT/extra'],
    ['/stat/den1/RESULT'],
    ['foo/den1/RESULT'],
    ['STAT/den1/RESULT'],
    ['stat/den 1/RESULT'],
    ['stat/+/RESULT'],
    ['stat/#/RESULT'],
    ['stat/den.1/RESULT'],
    [`stat/${'a'.repeat(65)}/RESULT`],
  ])('refuses %j', (topic) => {
    expect(parseTopic(topic)).toBeUndefined();
  });

  it('accepts a device topic of 64 characters, the longest allowed', () => {
    expect(parseTopic(`tele/${'a'.repeat(64)}/STATE`)?.device).toHaveLength(64);
  });
});

describe('isDeviceTopic', () => {
  it('accepts letters, digits, "_" and "-" only', () => {
    expect(isDeviceTopic('den-ngo_3')).toBe(true);
    for (const t of ['', 'a b', 'x/y', '#', '+', 'a+', 'đèn', 'a.b', 'a'.repeat(65)]) {
      expect(isDeviceTopic(t), t).toBe(false);
    }
  });
});
