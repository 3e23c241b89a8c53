/**
 * fail2ban's strptime: the `%` fields of date patterns as regexes, and the
 * time a date match stands for, completed as fail2ban completes it.
 */

function exY(): string {
  // fail2ban accepts years from the century's start to three years ahead
  const last = new Date().getFullYear() + 3;
  const decade = Math.floor((last - 2000) / 10);
  return `(?P<Y>20${decade === 0 ? '0' : `[0-${Math.min(decade, 9)}]`}\\d)`;
}

const TZ_ABBR = '[A-Z](?:[A-Z]{2,4})?';

/** strptime fields as fail2ban defines them (Python's _strptime TimeRE plus its `Ex…` forms). */
export const TIME_RE: Record<string, string> = {
  '%': '%',
  A: '(?P<A>wednesday|thursday|saturday|tuesday|monday|friday|sunday)',
  B: '(?P<B>september|february|november|december|january|october|august|march|april|june|july|may)',
  ExH: String.raw`(?P<H>[0-1]\d|2[0-3])`,
  ExM: String.raw`(?P<M>[0-5]\d)`,
  ExS: String.raw`(?P<S>[0-5]\d|6[0-1])`,
  ExY: exY(),
  ExZ: `(?P<Z>${TZ_ABBR})`,
  Exd: String.raw`(?P<d>[1-2]\d|0[1-9]|3[0-1])`,
  Exk: String.raw` ?(?P<H>[0-1]?\d|2[0-3])`,
  Exl: String.raw` ?(?P<I>1[0-2]|\d)`,
  Exm: '(?P<m>0[1-9]|1[0-2])',
  Exy: String.raw`(?P<y>\d{2})`,
  Exz: String.raw`(?P<z>(?:${TZ_ABBR})?[+-][01]\d(?::?\d{2})?|${TZ_ABBR})`,
  G: String.raw`(?P<G>\d\d\d\d)`,
  H: String.raw`(?P<H>[0-1]?\d|2[0-3])`,
  I: '(?P<I>1[0-2]|0[1-9]|[1-9])',
  M: String.raw`(?P<M>[0-5]?\d)`,
  S: String.raw`(?P<S>[0-5]?\d|6[0-1])`,
  U: String.raw`(?P<U>5[0-3]|[0-4]\d|\d)`,
  V: String.raw`(?P<V>5[0-3]|0[1-9]|[1-4]\d|\d)`,
  W: String.raw`(?P<W>5[0-3]|[0-4]\d|\d)`,
  X: String.raw`(?P<H>2[0-3]|[0-1]\d|\d):(?P<M>[0-5]\d|\d):(?P<S>6[0-1]|[0-5]\d|\d)`,
  Y: String.raw`(?P<Y>\d{4})`,
  Z: '(?P<Z>Z|[A-Z]{3,5})',
  a: '(?P<a>mon|tue|wed|thu|fri|sat|sun)',
  b: '(?P<b>jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)',
  d: String.raw`(?P<d>[1-2]\d|[0 ]?[1-9]|3[0-1])`,
  f: '(?P<f>[0-9]{1,6})',
  j: String.raw`(?P<j>36[0-6]|3[0-5]\d|[1-2]\d\d|0[1-9]\d|00[1-9]|[1-9]\d|0[1-9]|[1-9])`,
  k: String.raw` ?(?P<H>[0-2]?\d)`,
  l: String.raw` ?(?P<I>1?\d)`,
  m: '(?P<m>0?[1-9]|1[0-2])',
  p: '(?P<p>am|pm)',
  u: '(?P<u>[1-7])',
  w: '(?P<w>[0-6])',
  y: String.raw`(?P<y>\d\d)`,
  z: String.raw`(?P<z>Z|UTC|GMT|[+-][01]\d(?::?\d{2})?)`,
};

/** How a template's match becomes a time. */
export type Kind = 'pattern' | 'epoch' | 'lepoch' | 'tai64n';

/**
 * Zone abbreviations → hours east of UTC, fixed (no DST switch), as fail2ban's TZ_STR table
 * reads them.
 */
const TZ_TABLE = [
  '-12 Y',
  '-11 X NUT SST',
  '-10 W CKT HAST HST TAHT TKT',
  '-9 V AKST GAMT GIT HADT HNY',
  '-8 U AKDT CIST HAY HNP PST PT',
  '-7 T HAP HNR MST PDT',
  '-6 S CST EAST GALT HAR HNC MDT',
  '-5 R CDT COT EASST ECT EST ET HAC HNE PET',
  '-4 Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT',
  '-3 P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT',
  '-2 O BRST FNT PMDT UYST WGST',
  '-1 N AZOT CVT EGT',
  '0 Z EGST GMT UTC WET WT',
  '1 A CET DFT WAT WEDT WEST',
  '2 B CAT CEDT CEST EET SAST WAST',
  '3 C EAT EEDT EEST IDT MSK',
  '4 D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT',
  '5 E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT',
  '6 F ALMT BIOT BTT IOT KGT NOVT OMST YEKST',
  '7 G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB',
  '8 H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST',
  '9 I AWDT IRKST JST KST PWT TLT WDT WIT YAKT',
  '10 K AEST ChST PGT VLAT YAKST YAPT',
  '11 L AEDT LHDT MAGT NCT PONT SBT VLAST VUT',
  '12 M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT',
  '13 FJST NZDT',
  '11.5 NFT',
  '10.5 ACDT LHST',
  '9.5 ACST',
  '6.5 CCT MMT',
  '5.75 NPT',
  '5.5 SLT',
  '4.5 AFT IRDT',
  '3.5 IRST',
  '-2.5 HAT NDT',
  '-3.5 HNT NST NT',
  '-4.5 HLV VET',
  '-9.5 MART MIT',
];
const TZ_OFFSETS = new Map<string, number>();
for (const row of TZ_TABLE) {
  const [h, ...names] = row.split(' ');
  for (const n of names) TZ_OFFSETS.set(n, Math.round(Number(h) * 60));
}

/** Minutes east of UTC for `CET`, `+0200`, `UTC-05:00`, `Z`…, or null when unknown. */
function zoneOffset(z: string): number | null {
  const m = /^([A-Za-z]+)?(?:([+-])(\d\d):?(\d\d)?)?$/.exec(z.trim());
  if (m === null || (m[1] === undefined && m[2] === undefined)) return null;
  let off = 0;
  if (m[1] !== undefined) {
    const base = TZ_OFFSETS.get(m[1]) ?? TZ_OFFSETS.get(m[1].toUpperCase());
    if (base === undefined) return null;
    off = base;
  }
  if (m[2] !== undefined) off += (m[2] === '-' ? -1 : 1) * (Number(m[3]) * 60 + Number(m[4] ?? 0));
  return off;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** strptime's result as fail2ban completes it (reGroupDictStrptime): missing year / day from `now`. */
export function timeOf(kind: Kind, m: RegExpExecArray, nowMs: number): number {
  if (kind === 'epoch' || kind === 'lepoch') {
    const raw = (m[1].match(/\d[\d.]*/) ?? ['NaN'])[0];
    let v = Number(raw);
    if (kind === 'lepoch' && raw.replace('.', '').length >= 13)
      v = raw.length >= 16 && !raw.includes('.') ? v / 1e6 : v / 1e3;
    return v * 1000;
  }
  if (kind === 'tai64n') return Number.parseInt(m[1].slice(2, 17), 16) * 1000;
  const g = m.groups ?? {};
  const now = new Date(nowMs);
  let year = g.Y !== undefined ? Number(g.Y) : g.y !== undefined ? 2000 + Number(g.y) : now.getFullYear();
  let month = g.m !== undefined ? Number(g.m) - 1 : -1;
  if (month < 0 && (g.b ?? g.B) !== undefined) month = MONTHS.indexOf((g.b ?? g.B).slice(0, 3).toLowerCase());
  const yearless = g.Y === undefined && g.y === undefined;
  const dayless = month < 0 && g.d === undefined;
  if (month < 0) month = now.getMonth();
  let day = g.d !== undefined ? Number(g.d.trim()) : now.getDate();
  let hour = g.H !== undefined ? Number(g.H) : g.I !== undefined ? Number(g.I) % 12 : 0;
  if (g.I !== undefined && g.p?.toLowerCase() === 'pm') hour += 12;
  const min = g.M !== undefined ? Number(g.M) : 0;
  const sec = g.S !== undefined ? Number(g.S) : 0;
  // fail2ban drops the fraction (its msec branch is unused)
  const ms = 0;
  const z = g.z ?? g.Z;
  const mins = z === undefined ? null : zoneOffset(z);
  let t: number;
  if (mins !== null) {
    t = Date.UTC(year, month, day, hour, min, sec, ms) - mins * 60_000;
  } else {
    t = new Date(year, month, day, hour, min, sec, ms).getTime();
  }
  // a time without a date that is ahead of now is yesterday's (rollover at midnight)
  if (dayless && t > nowMs) {
    const y = new Date(t - 86_400_000);
    day = y.getDate();
    t -= 86_400_000;
  }
  // a year-less date more than a day ahead is last year's (logs read in January)
  if (yearless && t > nowMs + 86_400_000) {
    year--;
    t = new Date(year, month, day, hour, min, sec, ms).getTime();
  }
  return t;
}
