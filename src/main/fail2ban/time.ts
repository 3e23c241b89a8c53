/** Seconds per unit in fail2ban's time strings (MyTime.str2seconds), longest names first. */
const UNITS: [RegExp, number][] = [
  [/^(?:years?|yy?)$/, 365 * 86400],
  [/^(?:months?|mo)$/, 30 * 86400],
  [/^(?:weeks?|wee?|ww?)$/, 7 * 86400],
  [/^(?:days?|da|dd?)$/, 86400],
  [/^(?:hours?|hh?)$/, 3600],
  [/^(?:minutes?|mins?|mm?)$/, 60],
  [/^(?:seconds?|secs?|ss?)$/, 1],
];

/**
 * `600`, `10m`, `1h 30m`, `1d`, `2w`, `-1` (permanent) → seconds, as fail2ban reads bantime,
 * findtime and maxtime. Throws on anything else.
 */
export function fail2banSeconds(text: string): number {
  const s = text.trim().toLowerCase();
  if (/^-?\d+(?:\.\d+)?$/.test(s)) return Number(s);
  let total = 0;
  let rest = s;
  let parts = 0;
  while (rest.length > 0) {
    const m = /^\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*/.exec(rest);
    if (m === null || ++parts > 16) throw new Error(`not a fail2ban time: ${JSON.stringify(text)}`);
    const unit = m[2] === '' ? 1 : UNITS.find(([re]) => re.test(m[2]))?.[1];
    if (unit === undefined)
      throw new Error(`unknown time unit ${JSON.stringify(m[2])} in ${JSON.stringify(text)}`);
    total += Number(m[1]) * unit;
    rest = rest.slice(m[0].length);
  }
  return total;
}
