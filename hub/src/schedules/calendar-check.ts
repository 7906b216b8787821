/**
 * Overlapping calendar rules, reported clearly. First match wins, so overlaps are how holidays
 * work (Tết inside "weekends in winter"); but a rule that can never apply (every night it names
 * is taken by earlier rules covering all its lights) is a mistake and is refused.
 */
import { conflict } from '../core/errors.js';
import { type CompiledCalendarRule, calendarMatches } from './model.js';
import { formatDay, weekdayOfDay } from './site-clock.js';

export interface Overlap {
  /** The other rule. */
  rule: string;
  /** Nights both rules name (within the coming year for open-ended rules). */
  nights: number;
  first: string;
  last: string;
  /** Which rule applies on those nights (the one listed first). */
  wins: string;
}

/** Open-ended rules (weekdays only) are compared over this many nights from today. */
const HORIZON_NIGHTS = 366;
/** A rule's nights, capped: a range over ten years is checked over its first three. */
const MAX_NIGHTS = 3 * 366;

function nightsOf(r: CompiledCalendarRule, today: number): number[] {
  if (r.dates) return [...r.dates].sort((a, b) => a - b);
  const from = r.from ?? today;
  const to = r.to ?? today + HORIZON_NIGHTS - 1;
  const out: number[] = [];
  for (let d = from; d <= to && out.length < MAX_NIGHTS; d++) {
    if (calendarMatches(r, d, weekdayOfDay(d))) out.push(d);
  }
  return out;
}

const everywhere = (r: CompiledCalendarRule) => r.rule.zones.length === 0 && r.rule.lights.length === 0;

function lightsIn(r: CompiledCalendarRule, zoneOf: Map<string, string>): Set<string> {
  if (everywhere(r)) return new Set(zoneOf.keys());
  const out = new Set(r.rule.lights);
  for (const [light, zone] of zoneOf) if (r.rule.zones.includes(zone)) out.add(light);
  return out;
}

/**
 * Overlaps of the rule at `index` with every other rule; throws KHU_CONFLICT when it would never
 * apply anywhere because earlier rules take all of its nights.
 */
export function analyseCalendarRule(
  rules: CompiledCalendarRule[],
  index: number,
  today: number,
  zoneOf: Map<string, string>,
): Overlap[] {
  const rule = rules[index]!;
  const mine = nightsOf(rule, today);
  const myLights = lightsIn(rule, zoneOf);
  const overlaps: Overlap[] = [];
  const taken = new Set<number>();
  rules.forEach((other, i) => {
    if (i === index) return;
    const theirs = lightsIn(other, zoneOf);
    const sharedScope =
      everywhere(rule) ||
      everywhere(other) ||
      [...myLights].some((l) => theirs.has(l)) ||
      rule.rule.zones.some((z) => other.rule.zones.includes(z));
    if (!sharedScope) return;
    const shared = mine.filter((d) => calendarMatches(other, d, weekdayOfDay(d)));
    if (shared.length === 0) return;
    const coversAll =
      everywhere(other) ||
      ([...myLights].every((l) => theirs.has(l)) && !everywhere(rule) && myLights.size > 0);
    if (i < index && coversAll) for (const d of shared) taken.add(d);
    overlaps.push({
      rule: other.rule.id,
      nights: shared.length,
      first: formatDay(shared[0]!),
      last: formatDay(shared.at(-1)!),
      wins: i < index ? other.rule.id : rule.rule.id,
    });
  });
  if (mine.length > 0 && mine.every((d) => taken.has(d))) {
    const by = overlaps.filter((o) => o.wins !== rule.rule.id).map((o) => o.rule);
    throw conflict(
      `calendar rule ${rule.rule.id} would never apply: every night it names is taken by ${by.join(', ')}, listed before it (first match wins); move it up with "position" or narrow the other rule`,
    );
  }
  return overlaps;
}
